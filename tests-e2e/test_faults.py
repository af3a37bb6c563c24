"""The fault suite: under a steady authenticated load, kill one process of a mesh by pid, let
the mesh restart it, and check what clients saw.

For each fault: 0 requests allowed that should be refused, 0 answers of 500, the records made
before every fault still there and unchanged (a user, a role, a file, a periodic task, a run), as
many users, roles, files and periodic tasks as before and one run per task sent, and every probe
answering 200 again within `RECOVERY_BOUND_SECONDS` of the kill. The mesh is this module's own
(it is damaged on purpose), supervised by `mesh.restarts` as `mesh up` supervises it, with the
lost-run sweep and worker heartbeat made fast.
"""

import asyncio
import os
import signal
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from mesh.restarts import Restarter, RestartPolicy
from mesh.supervisor import Mesh
from mesh.testing import running_mesh
from mesh.valkey import valkey_ping
from testkit.auth_client import LoginFailedError, login

pytestmark = pytest.mark.e2e

RECOVERY_BOUND_SECONDS = 60.0
# How fast a run of a killed worker ends LOST here (the defaults give 2 minutes).
FAST_RUN_ENDINGS = {
    "WORKER_CATALOG_TTL_SECONDS": "3",
    "SCHEDULER_LOST_RUN_GRACE_SECONDS": "2",
    "SCHEDULER_LOST_RUN_SWEEP_SECONDS": "1",
}
FAST_RESTARTS = RestartPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=2, poll_seconds=0.2)
LOAD_INTERVAL_SECONDS = 0.1


@dataclass
class Records:
    """What must survive every fault, by the admin paths that read each one."""

    paths: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    wrongly_allowed: list[str] = field(default_factory=list)
    requests: int = 0


@pytest.fixture(scope="module")
def faults_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    if os.environ.get("MESH_URL"):
        # A run against a deployed mesh (compose, staging) tests that mesh; this suite's own
        # local mesh has already run with the local suite.
        pytest.skip("the fault suite kills processes of a local mesh of its own")
    with running_mesh(tmp_path_factory.mktemp("faults"), env=FAST_RUN_ENDINGS) as mesh:
        restarter = Restarter(mesh, lambda _message: None, FAST_RESTARTS)
        restarter.start()
        try:
            yield mesh
        finally:
            restarter.stop()


@pytest.fixture(scope="module")
async def tokens(faults_mesh: Mesh) -> dict[str, str]:
    """The admin's token and a token of a user holding no role."""
    async with httpx.AsyncClient(base_url=faults_mesh.url, timeout=30) as http:
        admin = (
            await login(http, faults_mesh.admin_username, faults_mesh.admin_password)
        ).access_token
        username, password = f"faults-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        created = await http.post(
            "/auth/users",
            json={"username": username, "password": password, "name": "No Roles"},
            headers=_bearer(admin),
        )
        assert created.status_code == 201, created.text
    async with httpx.AsyncClient(base_url=faults_mesh.url, timeout=30) as http:
        user = (await login(http, username, password)).access_token
    return {"admin": admin, "user": user}


@pytest.fixture(scope="module")
async def records(faults_mesh: Mesh, tokens: dict[str, str]) -> Records:
    made = Records()
    async with httpx.AsyncClient(
        base_url=faults_mesh.url, timeout=30, headers=_bearer(tokens["admin"])
    ) as admin:
        user = await admin.post(
            "/auth/users",
            json={
                "username": f"kept-{uuid.uuid4().hex[:8]}",
                "password": uuid.uuid4().hex,
                "name": "Kept",
            },
        )
        made.paths["user"] = f"/auth/users/{user.json()['id']}"
        role = await admin.post(
            "/rbac/roles",
            json={"code": f"kept-{uuid.uuid4().hex[:8]}", "name": "kept", "permissions": []},
        )
        made.paths["role"] = f"/rbac/roles/{role.json()['code']}"
        file = await admin.post(
            "/storage/uploads",
            json={"filename": "kept.txt", "content_type": "text/plain", "size": 4},
        )
        made.paths["file"] = f"/storage/files/{file.json()['file_id']}"
        task = await _periodic_task(admin, "demo.add", [2, 3])
        made.paths["periodic task"] = f"/scheduler/periodic-tasks/{task}"
        run = await _run_now(admin, task)
        await _until_run(admin, run, {"SUCCESS"}, 60)
        made.paths["run"] = f"/scheduler/runs/{run}"
        for name, path in made.paths.items():
            response = await admin.get(path)
            assert response.status_code == 200, f"{name}: {response.text}"
            made.bodies[name] = _stable(response.json())
    return made


def _stable(body: dict[str, Any]) -> dict[str, Any]:
    """A record without what changes by itself (beat's counters, timestamps of use)."""
    return {k: v for k, v in body.items() if k not in {"last_run_at", "total_run_count"}}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _periodic_task(admin: httpx.AsyncClient, task: str, args: list[Any]) -> str:
    created = await admin.post(
        "/scheduler/periodic-tasks",
        json={
            "name": f"faults-{uuid.uuid4().hex[:8]}",
            "task": task,
            "schedule": {"type": "interval", "every": 1, "period": "days"},
            "args": args,
            "enabled": False,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _run_now(admin: httpx.AsyncClient, periodic_task_id: str) -> str:
    started = await admin.post(f"/scheduler/periodic-tasks/{periodic_task_id}/run")
    assert started.status_code == 202, started.text
    return str(started.json()["task_id"])


async def _until_run(
    admin: httpx.AsyncClient, task_id: str, states: set[str], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await admin.get(f"/scheduler/runs/{task_id}")
        if response.status_code == 200:
            run = response.json()
            if run["state"] in states:
                return run
        await asyncio.sleep(0.25)
    pytest.fail(f"run {task_id} did not reach {states} within {timeout}s: {run}")


async def _counts(admin: httpx.AsyncClient) -> dict[str, int]:
    """How many users, roles, files and periodic tasks there are (`total` of each list)."""
    counts = {}
    for path in ("/auth/users", "/rbac/roles", "/storage/files", "/scheduler/periodic-tasks"):
        response = await admin.get(path, params={"limit": 1})
        assert response.status_code == 200, response.text
        counts[path] = int(response.json()["total"])
    return counts


def _probes(records: Records) -> list[str]:
    """One admin read per service and dependency: all 200 means the mesh has recovered."""
    return [
        "/auth/me",
        "/rbac/me/permissions",
        "/storage/files",
        "/storage/buckets",
        "/scheduler/periodic-tasks",
        records.paths["run"],
    ]


async def _steady_load(
    url: str, tokens: dict[str, str], probes: list[str], stop: asyncio.Event, tally: Tally
) -> None:
    """Admin reads, plus requests that must be refused: without a token, and by a user
    without the permission. Counts what the gateway answered."""
    refused = [
        ("anonymous", "/storage/files", {}),
        ("no-role", "/rbac/roles", _bearer(tokens["user"])),
    ]
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while not stop.is_set():
            for path in probes:
                await _count(http, "admin", path, _bearer(tokens["admin"]), tally, refuse=False)
            for who, path, headers in refused:
                await _count(http, who, path, headers, tally, refuse=True)
            await asyncio.sleep(LOAD_INTERVAL_SECONDS)


async def _count(
    http: httpx.AsyncClient,
    who: str,
    path: str,
    headers: dict[str, str],
    tally: Tally,
    *,
    refuse: bool,
) -> None:
    response = await http.get(path, headers=headers)
    tally.requests += 1
    tally.statuses[response.status_code] += 1
    if response.status_code == 500:
        tally.server_errors.append(f"{who} GET {path}: {response.text[:200]}")
    if refuse and response.status_code < 400:
        tally.wrongly_allowed.append(f"{who} GET {path}: {response.status_code}")


async def _all_answer(url: str, token: str, probes: list[str]) -> bool:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=_bearer(token)) as http:
        for path in probes:
            if (await http.get(path)).status_code != 200:
                return False
    return True


@pytest.fixture
async def lost_run(
    request: pytest.FixtureRequest, faults_mesh: Mesh, tokens: dict[str, str]
) -> AsyncIterator[str | None]:
    """For the worker fault: a run that is executing when the worker is killed."""
    if request.node.callspec.params["fault"] != "worker":
        yield None
        return
    async with httpx.AsyncClient(
        base_url=faults_mesh.url, timeout=30, headers=_bearer(tokens["admin"])
    ) as admin:
        task = await _periodic_task(admin, "demo.sleep", [30])
        run = await _run_now(admin, task)
        await _until_run(admin, run, {"STARTED"}, 60)
        yield run


@pytest.fixture
async def ticking(
    request: pytest.FixtureRequest, faults_mesh: Mesh, tokens: dict[str, str]
) -> AsyncIterator[str | None]:
    """For the beat fault: a task beat sends every second, sent at least once already."""
    if request.node.callspec.params["fault"] != "beat":
        yield None
        return
    async with httpx.AsyncClient(
        base_url=faults_mesh.url, timeout=30, headers=_bearer(tokens["admin"])
    ) as admin:
        created = await admin.post(
            "/scheduler/periodic-tasks",
            json={
                "name": f"ticking-{uuid.uuid4().hex[:8]}",
                "task": "demo.add",
                "schedule": {"type": "interval", "every": 1, "period": "seconds"},
                "args": [1, 2],
            },
        )
        assert created.status_code == 201, created.text
        task = str(created.json()["id"])
        assert await _until_sent_after(admin, task, datetime.now(UTC), 60)
        yield task
        await admin.patch(f"/scheduler/periodic-tasks/{task}", json={"enabled": False})


async def _queued_times(admin: httpx.AsyncClient, periodic_task_id: str) -> list[datetime]:
    runs = await admin.get(
        f"/scheduler/periodic-tasks/{periodic_task_id}/runs", params={"limit": 200}
    )
    if runs.status_code != 200:
        return []
    return sorted(
        datetime.fromisoformat(r["queued_at"]) for r in runs.json()["items"] if r["queued_at"]
    )


async def _until_sent_after(
    admin: httpx.AsyncClient, periodic_task_id: str, after: datetime, timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t > after for t in await _queued_times(admin, periodic_task_id)):
            return True
        await asyncio.sleep(0.25)
    return False


@pytest.mark.parametrize("fault", ["valkey", "mongo", "s3", "auth", "worker", "beat"])
async def test_a_killed_process_is_survived(
    fault: str,
    faults_mesh: Mesh,
    tokens: dict[str, str],
    records: Records,
    lost_run: str | None,
    ticking: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    probes = _probes(records)
    admin = httpx.AsyncClient(
        base_url=faults_mesh.url, timeout=30, headers=_bearer(tokens["admin"])
    )
    adder = await _periodic_task(admin, "demo.add", [1, 1])
    counts_before = await _counts(admin)
    sends = 0
    tally, stop = Tally(), asyncio.Event()
    load = asyncio.create_task(_steady_load(faults_mesh.url, tokens, probes, stop, tally))
    await asyncio.sleep(1)

    pid = faults_mesh.children[fault].pid
    os.killpg(pid, signal.SIGKILL)
    killed, killed_at = time.monotonic(), datetime.now(UTC)
    deadline = killed + RECOVERY_BOUND_SECONDS
    recovered = None
    try:
        # Recovered: the process is back, every probe answers 200 and a task sent now runs.
        while recovered is None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if faults_mesh.children[fault].pid == pid or not await _all_answer(
                faults_mesh.url, tokens["admin"], probes
            ):
                continue
            sent = await admin.post(f"/scheduler/periodic-tasks/{adder}/run")
            if sent.status_code != 202:
                continue
            sends += 1
            run = await _until_run(
                admin, sent.json()["task_id"], {"SUCCESS"}, deadline - time.monotonic()
            )
            assert run["result"] == 2
            if ticking is not None and not await _until_sent_after(
                admin, ticking, killed_at, deadline - time.monotonic()
            ):
                continue
            recovered = time.monotonic() - killed
        await asyncio.sleep(1)
    finally:
        stop.set()
        await load
    try:
        kept = {name: (await admin.get(path)) for name, path in records.paths.items()}
        counts_after = await _counts(admin)
        ticks = [] if ticking is None else await _queued_times(admin, ticking)
        adder_runs = await admin.get(f"/scheduler/periodic-tasks/{adder}/runs")
        ended = None if lost_run is None else await _until_run(admin, lost_run, {"LOST"}, 30)
    finally:
        await admin.aclose()

    with capsys.disabled():
        seen = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()))
        sys.stdout.write(
            f"\nfault {fault}: recovered in {recovered}s; {tally.requests} requests ({seen})\n"
        )
    assert recovered is not None, (
        f"not recovered within {RECOVERY_BOUND_SECONDS}s: {tally.statuses}"
    )
    assert tally.server_errors == []
    assert tally.wrongly_allowed == []
    # Nothing lost and nothing duplicated: as many of each as before, one run per send.
    assert counts_after == counts_before
    assert adder_runs.json()["total"] == sends
    for name, response in kept.items():
        assert response.status_code == 200, f"{name} lost: {response.text}"
        assert _stable(response.json()) == records.bodies[name], f"{name} changed"
    # Beat's handover sends no scheduled run twice (two sends closer than half the interval).
    assert all(b - a >= timedelta(seconds=0.5) for a, b in pairwise(ticks))
    if ended is not None:
        assert "died" in ended["error"]
        assert ended["finished_at"] is not None


async def _signed_in_user(
    http: httpx.AsyncClient, admin_token: str, *grants: str
) -> tuple[str, str, str]:
    """A new user holding a role with `grants`: id, username, password; the token is in `http`."""
    username, password = f"resync-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = _bearer(admin_token)
    created = await http.post(
        "/auth/users", json={"username": username, "password": password, "name": "R"}, headers=admin
    )
    assert created.status_code == 201, created.text
    user_id: str = created.json()["id"]
    code = f"resync-{uuid.uuid4().hex[:8]}"
    role = {"code": code, "name": code, "permissions": list(grants)}
    assert (await http.post("/rbac/roles", json=role, headers=admin)).status_code == 201
    bound = await http.put(f"/rbac/users/{user_id}/roles", json={"roles": [code]}, headers=admin)
    assert bound.status_code == 200, bound.text
    http.headers.update(_bearer((await login(http, username, password)).access_token))
    return user_id, username, password


async def _settles_on(
    http: httpx.AsyncClient, path: str, expected: int, stale: int, timeout: float
) -> list[int]:
    """Poll `path` until it answers `expected`, then 2 s more; never `stale` (what a cache that
    missed the change would answer). 503s meanwhile are the mesh recovering, failing closed."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != expected:
        assert time.monotonic() < deadline, f"{path}: {seen}"
        await asyncio.sleep(0.02)
        seen.append((await http.get(path)).status_code)
        assert stale not in seen, f"{path}: a stale cache answered {seen}"
    for _ in range(20):
        await asyncio.sleep(0.1)
        seen.append((await http.get(path)).status_code)
    assert set(seen[seen.index(expected) :]) == {expected}, f"{path}: {seen}"
    return seen


async def test_changes_missed_during_a_redis_outage_are_in_the_decisions_once_it_is_back(
    faults_mesh: Mesh, tokens: dict[str, str]
) -> None:
    """A grant withdrawn while Redis is down (committed in SQL by an rbac whose announcement
    failed) and a user enabled as soon as Redis is back (maybe before rbac re-subscribed)."""
    url = faults_mesh.url
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as granted,
        httpx.AsyncClient(base_url=url, timeout=30) as disabled,
        httpx.AsyncClient(base_url=url, timeout=30, headers=_bearer(tokens["admin"])) as admin,
    ):
        granted_id, _, _ = await _signed_in_user(granted, tokens["admin"], "storage:GET:*")
        disabled_id, *credentials = await _signed_in_user(
            disabled, tokens["admin"], "storage:GET:*"
        )
        off = await admin.patch(f"/auth/users/{disabled_id}", json={"is_active": False})
        assert off.status_code == 200, off.text
        await _settles_on(granted, "/storage/files", 200, stale=403, timeout=5)
        await _settles_on(disabled, "/storage/files", 401, stale=200, timeout=5)

        pid = faults_mesh.children["valkey"].pid
        os.killpg(pid, signal.SIGKILL)
        database = faults_mesh.environment.env["RBAC_DATABASE_URL"].split(":///", 1)[1]
        with closing(sqlite3.connect(database)) as db, db:
            db.execute("DELETE FROM rbac_user_roles WHERE user_id = ?", (granted_id,))
        port = int(faults_mesh.environment.env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        deadline = time.monotonic() + RECOVERY_BOUND_SECONDS
        while faults_mesh.children["valkey"].pid == pid or not _valkey_answers(port):
            assert time.monotonic() < deadline, "valkey was not restarted"
            await asyncio.sleep(0.02)
        back = time.monotonic()
        # The first request on each connection pooled before the outage may still meet a 503.
        while (
            on := await admin.patch(f"/auth/users/{disabled_id}", json={"is_active": True})
        ).status_code == 503:
            assert time.monotonic() - back < 10, on.text
            await asyncio.sleep(0.05)
        assert on.status_code == 200, on.text
        # Disabling revoked the user's sessions: enabled again, they sign in afresh.
        pair = None
        for _ in range(100):
            try:
                pair = await login(disabled, *credentials)
                break
            except LoginFailedError as refused:  # a 503 while the mesh recovers, nothing else
                if refused.response.status_code != 503:
                    raise
                await asyncio.sleep(0.1)
        assert pair is not None, "the enabled user could not sign in again"
        disabled.headers.update(_bearer(pair.access_token))

        await _settles_on(granted, "/storage/files", 403, stale=200, timeout=RECOVERY_BOUND_SECONDS)
        await _settles_on(
            disabled, "/storage/files", 200, stale=401, timeout=RECOVERY_BOUND_SECONDS
        )


def _valkey_answers(port: int) -> bool:
    try:
        valkey_ping(port)
    except OSError:
        return False
    return True


async def test_with_rbac_killed_the_gateway_answers_503_problems_and_forwards_nothing(
    faults_mesh: Mesh, tokens: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """rbac makes the gateway's every decision: while it is dead nothing passes, and clients
    get a 503 problem with Retry-After (Traefik's forwardAuth answered a bare 500). Each request
    is an upload a forwarded one would record, so files counted before and after show that
    only the ones answered 201 reached storage."""
    admin = httpx.AsyncClient(
        base_url=faults_mesh.url, timeout=30, headers=_bearer(tokens["admin"])
    )
    files_before = (await _counts(admin))["/storage/files"]
    pid = faults_mesh.children["rbac"].pid
    os.killpg(pid, signal.SIGKILL)
    killed = time.monotonic()
    statuses: Counter[int] = Counter()
    unavailable: list[httpx.Response] = []
    created = 0
    recovered = None
    try:
        while recovered is None and time.monotonic() < killed + RECOVERY_BOUND_SECONDS:
            upload = await admin.post(
                "/storage/uploads",
                json={"filename": "while-rbac-dies.txt", "content_type": "text/plain", "size": 4},
            )
            anonymous = await admin.get("/storage/files", headers={"Authorization": ""})
            statuses[upload.status_code] += 1
            statuses[anonymous.status_code] += 1
            unavailable += [r for r in (upload, anonymous) if r.status_code == 503]
            assert anonymous.status_code in (401, 503), anonymous.text
            assert upload.status_code in (201, 503), upload.text
            created += upload.status_code == 201
            if upload.status_code == 201 and faults_mesh.children["rbac"].pid != pid:
                recovered = time.monotonic() - killed
            await asyncio.sleep(0.05)
        files_after = (await _counts(admin))["/storage/files"]
    finally:
        await admin.aclose()

    with capsys.disabled():
        seen = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
        sys.stdout.write(f"\nfault rbac: recovered in {recovered}s ({seen})\n")
    assert recovered is not None, f"not recovered within {RECOVERY_BOUND_SECONDS}s: {statuses}"
    assert files_after == files_before + created
    codes = Counter(r.json()["code"] for r in unavailable)
    # The plugin's own answer while rbac cannot be reached (rbac's own 503s, while it comes
    # back up, pass through unchanged).
    assert codes["decision_unavailable"] > 0, codes
    for response in unavailable:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
        problem = response.json()
        assert problem["status"] == 503
        assert problem["type"].endswith(":" + problem["code"])
        assert {"title", "detail", "instance"} <= problem.keys()
