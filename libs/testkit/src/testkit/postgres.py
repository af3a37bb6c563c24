"""Databases of our own on the shared PostgreSQL server (never touching anyone else's)."""

import asyncio
import os
import uuid

import asyncpg

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE_PREFIX = "amdb_test_"


async def create_database(label: str, *, template: str | None = None) -> str:
    """Create a fresh database and return its URL; its name starts with `amdb_test_`.

    With `template` (the URL of one of our databases nobody is connected to), the new database
    starts as a copy of it: PostgreSQL copies its files, far faster than migrating again.
    """
    name = f"{DATABASE_PREFIX}{label}_{uuid.uuid4().hex[:8]}"
    source = ""
    if template is not None:
        template_name = template.rsplit("/", 1)[1]
        if not template_name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to copy {template_name!r}: not a test database")
        source = f' TEMPLATE "{template_name}"'
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{source}')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    if not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_databases(urls: list[str], *, concurrency: int = 8) -> None:
    """Drop many of our databases at once. Each DROP DATABASE waits for a checkpoint (seconds on
    a busy server); run side by side they share them, so 100 drops cost a few checkpoints, not
    100. `concurrency` bounds the connections taken from the shared server."""
    gate = asyncio.Semaphore(concurrency)

    async def drop(url: str) -> None:
        async with gate:
            await drop_database(url)

    await asyncio.gather(*(drop(url) for url in urls))


async def postgres_available() -> bool:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True
