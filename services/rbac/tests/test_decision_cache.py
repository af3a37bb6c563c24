"""Warm decisions come from process memory; changes reach every process through pub/sub."""

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import event

from common.route_manifest import publish_manifest
from common.sql import SqlDatabase
from rbac.migrations import upgrade
from testkit.polling import until
from testkit.rbac_app import Rbac, StartRbac, manifest

ROUTES = [("GET", "/files", "permission"), ("GET", "/me", "authenticated")]


@pytest.fixture
async def two_processes(
    tmp_path: Path, redis_url: str, redis: Redis, start_rbac: StartRbac
) -> AsyncIterator[tuple[Rbac, Rbac]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rbac.db'}"
    await upgrade(url)
    async with (
        start_rbac(url, redis_url) as first,
        start_rbac(url, redis_url) as second,
    ):
        await publish_manifest(redis, manifest("storage", ROUTES))
        for process in (first, second):
            await until(
                lambda p=process: p.authorize("GET", "/storage/files"),  # type: ignore[misc]
                lambda r: r.status_code == 401,
            )
        yield first, second


async def test_grant_made_in_one_process_is_in_force_in_another_within_a_second(
    two_processes: tuple[Rbac, Rbac],
) -> None:
    first, second = two_processes
    token = second.signer.token(sub="01900000-0000-7000-8000-00000000000a")
    assert (await second.authorize("GET", "/storage/files", token)).status_code == 403
    admin = first.admin_headers()
    await first.http.post(
        "/roles",
        json={"code": "reader", "name": "R", "permissions": ["storage:GET:/files"]},
        headers=admin,
    )
    await first.http.put(
        "/users/01900000-0000-7000-8000-00000000000a/roles",
        json={"roles": ["reader"]},
        headers=admin,
    )
    granted_at = time.monotonic()
    response = await until(
        lambda: second.authorize("GET", "/storage/files", token),
        lambda r: r.status_code == 200,
        within=1.0,
    )
    assert response.status_code == 200, f"not granted {time.monotonic() - granted_at:.2f}s later"
    await first.http.patch("/roles/reader", json={"permissions": []}, headers=admin)
    response = await until(
        lambda: second.authorize("GET", "/storage/files", token),
        lambda r: r.status_code == 403,
        within=1.0,
    )
    assert response.status_code == 403


async def test_warm_decision_makes_no_sql_query_and_no_redis_command(
    two_processes: tuple[Rbac, Rbac], redis: Redis
) -> None:
    rbac, _ = two_processes
    admin = rbac.admin_headers()
    await rbac.http.post(
        "/roles", json={"code": "r", "name": "R", "permissions": ["storage:*"]}, headers=admin
    )
    await rbac.http.put(
        "/users/01900000-0000-7000-8000-00000000000b/roles", json={"roles": ["r"]}, headers=admin
    )
    token = rbac.signer.token(sub="01900000-0000-7000-8000-00000000000b")
    assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 200

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    database: SqlDatabase = rbac.app.state.database
    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    before = await _commands_processed(redis)
    try:
        for _ in range(20):
            assert (await rbac.authorize("GET", "/storage/files", token)).status_code == 200
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    after = await _commands_processed(redis)
    assert statements == []
    # The cold decision's revocation lookup was counted, the warm ones made none.
    assert before["cmdstat_mget"] >= 1
    assert after["cmdstat_mget"] == before["cmdstat_mget"]
    assert after.get("cmdstat_get", 0) == before.get("cmdstat_get", 0)


async def _commands_processed(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}
