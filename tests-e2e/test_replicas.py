"""Two instances of every API service, two workers and two beats behind the gateway
(`mesh up --replicas 2`): what rbac learns reaches every replica within 1 s, and restarting the
replicas one at a time under a steady authenticated load fails no request.

This module starts its own mesh (the shared one has one instance of each), so it runs as a
suite of its own; against a deployed mesh (`MESH_URL`) it is skipped.
"""

import asyncio
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from redis import Redis

from mesh.environment import API_SERVICES
from mesh.gateway import server_status
from mesh.restarts import restart_one
from mesh.supervisor import Mesh
from mesh.testing import running_mesh
from mesh.topology import parse_replicas, replica_names
from scheduler.beat_lock import LOCK_KEY
from testkit.accounts import Accounts, signed_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(bool(os.environ.get("MESH_URL")), reason="starts a mesh of its own"),
]

REPLICAS = 2
# The bound the README states for a change in rbac (or a logout) to reach every decision.
PROPAGATION_BOUND_SECONDS = 1.0
LOAD_CLIENTS = 3
HEALTH_WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def replicas_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    counts = parse_replicas([str(REPLICAS)])
    with running_mesh(tmp_path_factory.mktemp("replicas"), replicas=counts) as mesh:
        yield mesh


@pytest.fixture
async def admin_client(replicas_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(
        replicas_mesh.url, replicas_mesh.admin_username, replicas_mesh.admin_password, timeout=15
    ) as client:
        yield client


@pytest.fixture
async def made(admin_client: httpx.AsyncClient) -> AsyncIterator[Accounts]:
    accounts = Accounts(admin_client)
    yield accounts
    await accounts.aclose()


def _ports(mesh: Mesh) -> dict[str, int]:
    ports: dict[str, int] = json.loads(mesh.state.ports_file.read_text())
    return ports


def _rbac_instances(mesh: Mesh) -> list[str]:
    ports = _ports(mesh)
    names = replica_names(mesh.meta["replicas"])["rbac"]  # type: ignore[arg-type]
    return [f"http://127.0.0.1:{ports[name]}" for name in names]


async def _decisions(instances: list[str], token: str, method: str, uri: str) -> list[int]:
    """Each rbac instance's decision, asked directly (as the gateway's forwardAuth asks)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Forwarded-Method": method,
        "X-Forwarded-Uri": uri,
    }
    async with httpx.AsyncClient(timeout=5) as http:
        answers = [await http.get(f"{base}/authorize", headers=headers) for base in instances]
    return [answer.status_code for answer in answers]


async def _every_replica_within_bound(
    probe: Callable[[], Awaitable[list[int]]], expected: int, since: float
) -> float:
    """Seconds from `since` until every instance answers `expected` (fails past the bound)."""
    deadline = since + PROPAGATION_BOUND_SECONDS + 5
    while True:
        statuses = await probe()
        took = time.monotonic() - since
        if all(status == expected for status in statuses):
            assert took <= PROPAGATION_BOUND_SECONDS, f"{took:.2f}s: {statuses}"
            return took
        assert time.monotonic() < deadline, f"still {statuses} after {took:.1f}s"
        await asyncio.sleep(0.02)


def _token(client: httpx.AsyncClient) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


async def test_the_mesh_runs_two_of_each_and_the_gateway_balances_over_them(
    replicas_mesh: Mesh, admin_client: httpx.AsyncClient
) -> None:
    names = {p.name for p in replicas_mesh.processes}
    for service in (*API_SERVICES, "worker", "beat"):
        assert {service, f"{service}-2"} <= names
    ping = _ports(replicas_mesh)["traefik-ping"]
    for service in API_SERVICES:
        status = server_status(ping, service)
        assert len(status) == REPLICAS, (service, status)
        assert set(status.values()) == {"UP"}, (service, status)
    # Two beats, one active: the leader lock holds the token of exactly one of them.
    tokens = {
        name: re.findall(r'"token": "([^"]+)"', replicas_mesh.state.log(name).read_text())
        for name in ("beat", "beat-2")
    }
    redis = Redis.from_url(replicas_mesh.environment.env["REDIS_URL"], decode_responses=True)
    try:
        deadline = time.monotonic() + 30
        while (leader := redis.get(LOCK_KEY)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        redis.close()
    assert [name for name, seen in tokens.items() if leader in seen] in (["beat"], ["beat-2"])
    for path in ("/auth/me", "/rbac/roles", "/storage/files", "/scheduler/periodic-tasks"):
        for _ in range(2 * REPLICAS):
            response = await admin_client.get(path)
            assert response.status_code == 200, (path, response.text)


async def test_a_role_change_reaches_every_rbac_replica_within_1s(
    replicas_mesh: Mesh, made: Accounts
) -> None:
    instances = _rbac_instances(replicas_mesh)
    user = await made.signed_in()
    token = _token(user.http)

    def files() -> Awaitable[list[int]]:
        return _decisions(instances, token, "GET", "/storage/files")

    assert await files() == [403] * REPLICAS
    await made.grant(user.id, "storage:GET:*")
    await _every_replica_within_bound(files, 200, time.monotonic())
    await made.bind(user.id)  # every role taken away, through one rbac instance
    await _every_replica_within_bound(files, 403, time.monotonic())


async def test_a_logout_and_a_disabled_user_are_refused_on_every_replica_at_once(
    replicas_mesh: Mesh, made: Accounts, admin_client: httpx.AsyncClient
) -> None:
    instances = _rbac_instances(replicas_mesh)
    leaving = await made.signed_in()
    leaving_token = _token(leaving.http)
    assert await _decisions(instances, leaving_token, "GET", "/auth/me") == [200] * REPLICAS
    logout = await leaving.http.post("/auth/logout")
    assert logout.status_code == 204, logout.text
    await _every_replica_within_bound(
        lambda: _decisions(instances, leaving_token, "GET", "/auth/me"), 401, time.monotonic()
    )

    disabled = await made.signed_in()
    disabled_token = _token(disabled.http)
    assert await _decisions(instances, disabled_token, "GET", "/auth/me") == [200] * REPLICAS
    patched = await admin_client.patch(f"/auth/users/{disabled.id}", json={"is_active": False})
    assert patched.status_code == 200, patched.text
    await _every_replica_within_bound(
        lambda: _decisions(instances, disabled_token, "GET", "/auth/me"), 401, time.monotonic()
    )
    # Through the gateway too, whichever instance the balancer picks.
    for _ in range(2 * REPLICAS):
        assert (await disabled.http.get("/auth/me")).status_code == 401
        assert (await leaving.http.get("/auth/me")).status_code == 401


@dataclass
class Load:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


async def _steady_load(url: str, token: str, stop: asyncio.Event, load: Load) -> None:
    paths = ("/auth/me", "/rbac/roles", "/storage/files", "/scheduler/periodic-tasks")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
        while not stop.is_set():
            for path in paths:
                try:
                    response = await http.get(path, params={"limit": 1})
                except httpx.HTTPError as error:
                    load.failures.append(f"GET {path}: {type(error).__name__}")
                    continue
                finally:
                    load.requests += 1
                load.statuses[response.status_code] += 1
                if response.status_code != 200:
                    load.failures.append(
                        f"GET {path}: {response.status_code} {response.text[:120]}"
                    )
            await asyncio.sleep(0.01)


async def _all_up(ping: int, service: str) -> None:
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    while True:
        status = await asyncio.to_thread(server_status, ping, service)
        if len(status) == REPLICAS and set(status.values()) == {"UP"}:
            return
        assert time.monotonic() < deadline, f"{service}: {status}"
        await asyncio.sleep(0.1)


async def test_rolling_restarts_under_steady_authenticated_load_fail_no_request(
    replicas_mesh: Mesh, admin_client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    ping = _ports(replicas_mesh)["traefik-ping"]
    token = _token(admin_client)
    instances = replica_names(replicas_mesh.meta["replicas"])  # type: ignore[arg-type]
    stop = asyncio.Event()
    load = Load()
    clients = [
        asyncio.create_task(_steady_load(replicas_mesh.url, token, stop, load))
        for _ in range(LOAD_CLIENTS)
    ]
    began = time.monotonic()
    restarted: list[str] = []
    try:
        await asyncio.sleep(1)
        for service in API_SERVICES:
            for name in instances[service]:
                await asyncio.to_thread(restart_one, replicas_mesh, name)
                # The next instance goes only once the gateway routes to this one again.
                await _all_up(ping, service)
                restarted.append(name)
        await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.gather(*clients)
    took = time.monotonic() - began
    with capsys.disabled():
        sys.stdout.write(
            f"\nrolling restart of {len(restarted)} instances in {took:.0f} s: "
            f"{load.requests} requests, {len(load.failures)} failed, {dict(load.statuses)}\n"
        )
    assert len(restarted) == REPLICAS * len(API_SERVICES)
    assert load.requests > 0
    assert load.failures == []
