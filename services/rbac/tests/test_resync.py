"""After a Redis outage the caches re-sync: a change whose announcement the pub/sub listener
missed while it was disconnected is in the decisions within 1 s of Redis being back.

Valkey is killed (SIGKILL) and restarted on the same port while rbac keeps running, the way
the mesh's supervisor restarts it; the stop and the start run in a thread so the listener sees
the outage as it would in production.
"""

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import httpx
import pytest

from common.redis_client import create_redis
from common.route_manifest import publish_manifest
from common.user_events import UserEventKind, clear_disabled, mark_disabled, publish_user_event
from mesh.launch import running
from mesh.net import free_port
from mesh.valkey import valkey_launch, valkey_url
from rbac import changes
from rbac.decision.listener import ChangeListener
from rbac.migrations import upgrade
from testkit.polling import until
from testkit.rbac_app import Rbac, StartRbac, manifest
from testkit.tokens import TokenSigner

ROUTES = [
    ("GET", "/health", "public"),
    ("POST", "/uploads", "permission"),
    ("GET", "/me", "authenticated"),
]
# The bound the README states for a change to reach every decision.
RESYNC_BOUND_SECONDS = 1.0


class Valkey:
    """A persistent Valkey on a fixed port that a test can kill and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = valkey_url(self.port)
        self._stack = ExitStack()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        launch = valkey_launch(self.data_dir, self.port, persist=True)
        self._proc = self._stack.enter_context(running(launch, self.data_dir / "valkey.log"))

    def kill(self) -> None:
        assert self._proc is not None
        os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._stack.close()
        self._proc = None

    def close(self) -> None:
        self._stack.close()


@contextmanager
def valkey(data_dir: Path) -> Iterator[Valkey]:
    server = Valkey(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.close()


def _bounce_while_busy(server: Valkey) -> None:
    """Kill Valkey and start it again while the event loop is held (nothing reads meanwhile)."""
    server.kill()
    server.start()


async def _within_bound(
    rbac: Rbac, method: str, uri: str, token: str, expected: int, back_at: float
) -> httpx.Response:
    response = await until(
        lambda: rbac.authorize(method, uri, token),
        lambda r: r.status_code == expected,
        within=RESYNC_BOUND_SECONDS + 5,
    )
    took = time.monotonic() - back_at
    assert response.status_code == expected, response.text
    assert took <= RESYNC_BOUND_SECONDS, f"took {took:.2f}s after Redis was back"
    return response


async def _rbac_ready(rbac: Rbac, redis_url: str) -> None:
    redis = create_redis(redis_url)
    try:
        await publish_manifest(redis, manifest("storage", ROUTES))
    finally:
        await redis.aclose()
    health = await until(
        lambda: rbac.authorize("GET", "/storage/health"), lambda r: r.status_code == 200
    )
    assert health.status_code == 200


async def _granted_user(rbac: Rbac) -> tuple[str, str]:
    user = str(uuid.uuid4())
    code = f"r{uuid.uuid4().hex[:8]}"
    grants = rbac.app.state.authorizer.grants
    generation = grants.generation
    created = await rbac.http.post(
        "/roles",
        json={"code": code, "name": code, "permissions": ["storage:*"]},
        headers=rbac.admin_headers(),
    )
    assert created.status_code == 201, created.text
    bound = await rbac.http.put(
        f"/users/{user}/roles", json={"roles": [code]}, headers=rbac.admin_headers()
    )
    assert bound.status_code == 200, bound.text
    token = rbac.signer.token(sub=user)

    async def announced() -> int:
        return int(grants.generation)

    # Both announcements (role created, binding set) have reached the listener.
    assert await until(announced, lambda g: g >= generation + 2) >= generation + 2
    # Warm: the grant is cached while pub/sub is up.
    await _within_bound(rbac, "POST", "/storage/uploads", token, 200, time.monotonic())
    return user, token


def _withdraw_in_sql(database_file: Path, user: str) -> None:
    """What another rbac replica's role API commits; its announcement cannot be published."""
    with closing(sqlite3.connect(database_file)) as db, db:
        db.execute("DELETE FROM rbac_user_roles WHERE user_id = ?", (user,))


@pytest.mark.parametrize("listener", ["sees the outage", "is busy during the outage"])
async def test_a_grant_withdrawn_during_a_redis_outage_is_refused_within_1s_of_its_return(
    tmp_path: Path, start_rbac: StartRbac, listener: str
) -> None:
    database_file = tmp_path / "rbac.db"
    url = f"sqlite+aiosqlite:///{database_file}"
    await upgrade(url)
    with valkey(tmp_path / "valkey") as server:
        async with start_rbac(url, server.url) as rbac:
            await _rbac_ready(rbac, server.url)
            user, token = await _granted_user(rbac)
            if listener == "sees the outage":
                await asyncio.to_thread(server.kill)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(_withdraw_in_sql, database_file, user)
                redis = create_redis(server.url, timeout=0.5)
                await changes.announce(redis, {changes.ChangeKind.BINDINGS})
                await redis.aclose()
                await asyncio.to_thread(server.start)
            else:
                # The event loop is held (a long request, a loaded machine) for the whole
                # outage: the listener next reads from a connection that died meanwhile.
                server.kill()
                _withdraw_in_sql(database_file, user)
                server.start()
            back_at = time.monotonic()

            denied = await _within_bound(rbac, "POST", "/storage/uploads", token, 403, back_at)
            assert denied.json()["code"] == "permission_denied"


async def test_a_user_enabled_while_the_listener_was_disconnected_passes_within_1s(
    tmp_path: Path, signer: TokenSigner, start_rbac: StartRbac
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rbac.db'}"
    await upgrade(url)
    with valkey(tmp_path / "valkey") as server:
        async with start_rbac(url, server.url) as rbac:
            await _rbac_ready(rbac, server.url)
            user = str(uuid.uuid4())
            token = signer.token(sub=user)
            redis = create_redis(server.url)
            await mark_disabled(redis, user)
            await publish_user_event(redis, user, UserEventKind.DISABLED)
            await redis.aclose()
            await _within_bound(rbac, "GET", "/storage/me", token, 401, time.monotonic())

            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
            # As soon as Redis answers, auth enables the user; rbac's listener may not have
            # re-subscribed yet, so the announcement can be missed.
            redis = create_redis(server.url)
            await clear_disabled(redis, user)
            await publish_user_event(redis, user, UserEventKind.ENABLED)
            await redis.aclose()
            back_at = time.monotonic()

            await _within_bound(rbac, "GET", "/storage/me", token, 200, back_at)


async def test_the_listener_reports_the_outage_instead_of_reconnecting_silently(
    tmp_path: Path, start_rbac: StartRbac
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rbac.db'}"
    await upgrade(url)
    with valkey(tmp_path / "valkey") as server:
        async with start_rbac(url, server.url) as rbac:
            await _rbac_ready(rbac, server.url)
            listener: ChangeListener = rbac.app.state.listener
            grants = rbac.app.state.authorizer.grants
            before = grants.generation
            _bounce_while_busy(server)
            back_at = time.monotonic()

            async def state() -> tuple[int, bool]:
                return grants.generation, listener.connected.is_set()

            # However fast Redis came back, the caches were dropped (off at the loss, on again
            # at the return) and pub/sub re-joined; a client that reconnected and re-subscribed
            # by itself would keep serving caches that missed every message meanwhile.
            generation, connected = await until(
                state, lambda s: s[0] >= before + 2 and s[1], within=RESYNC_BOUND_SECONDS + 5
            )
            assert generation >= before + 2
            assert connected
            assert time.monotonic() - back_at <= RESYNC_BOUND_SECONDS


async def _is_connected(listener: ChangeListener) -> bool:
    return listener.connected.is_set()
