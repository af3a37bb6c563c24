import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from auth.migrations import upgrade_database
from auth.seed import seed_admin
from auth.settings import AuthSettings
from auth.users.models import User
from common.sql import SqlDatabase


async def _users(settings: AuthSettings) -> list[User]:
    database = SqlDatabase(settings.database_url, pool_size=1)
    try:
        async with database.session() as session:
            return list((await session.execute(select(User))).scalars())
    finally:
        await database.dispose()


async def test_migrations_run_twice_without_harm(settings_factory: Any) -> None:
    settings: AuthSettings = settings_factory()

    await upgrade_database(settings.database_url)

    database = SqlDatabase(settings.database_url, pool_size=1)
    try:
        async with database.session() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0
    finally:
        await database.dispose()


async def test_seed_creates_the_admin_then_leaves_it_unchanged(
    settings_factory: Any, production_argon2: dict[str, Any]
) -> None:
    settings: AuthSettings = settings_factory(**production_argon2)

    assert await seed_admin(settings, "root", "the first admin password") == "created"
    assert await seed_admin(settings, "root", "the first admin password") == "unchanged"
    [user] = await _users(settings)

    assert user.username == "root"
    assert user.is_admin
    assert user.is_active
    assert "the first admin password" not in user.password_hash
    assert user.password_hash.startswith("$argon2id$v=19$m=7168,t=5,p=1$")


async def test_seed_updates_the_password_and_restores_admin_rights(settings_factory: Any) -> None:
    settings: AuthSettings = settings_factory()
    await seed_admin(settings, "root", "the first admin password")
    database = SqlDatabase(settings.database_url, pool_size=1)
    try:
        async with database.session() as session:
            user = (await session.execute(select(User))).scalar_one()
            user.is_active = False
            user.is_admin = False
    finally:
        await database.dispose()

    assert await seed_admin(settings, "ROOT", "a second admin password") == "updated"
    [user] = await _users(settings)

    assert user.is_admin
    assert user.is_active


async def _run(module: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


@pytest.mark.process
async def test_the_commands_migrate_and_seed_without_printing_the_password(
    tmp_path: Path,
) -> None:
    env = {
        "ENVIRONMENT": "local",
        "AUTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'auth.sqlite3'}",
        "ADMIN_USERNAME": "boss",
        "ADMIN_PASSWORD": "never-print-this-password",
        "LOG_JSON": "false",
    }

    migrated = await _run("auth.migrations", env)
    migrated_again = await _run("auth.migrations", env)
    seeded = await _run("auth.seed", env)

    assert migrated[0] == migrated_again[0] == seeded[0] == 0
    assert "never-print-this-password" not in seeded[1]
    assert "created" in seeded[1]


@pytest.mark.process
async def test_seed_refuses_to_run_without_an_admin_password(tmp_path: Path) -> None:
    env = {
        "AUTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'auth.sqlite3'}",
        "ADMIN_PASSWORD": "",
    }

    code, output = await _run("auth.seed", env)

    assert code == 1
    assert "ADMIN_PASSWORD" in output
