"""Real worker and beat processes against the API: the behaviour a user relies on."""

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from scheduler.app import create_app
from scheduler.settings import SchedulerSettings
from testkit import polling
from testkit.asgi_server import serving
from testkit.celery_processes import beat_command, celery_process, stop_process
from testkit.tokens import TokenSigner

POLL_SECONDS = 0.25

# Real worker/beat processes on the clock: `make test` runs this suite alone.
pytestmark = pytest.mark.process


async def eventually[T](probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool]) -> T:
    return await polling.eventually(probe, accept, timeout=20.0, interval=POLL_SECONDS)


# Beat logs each batch it sends as one line: `sent demo.add x3, demo.sleep`.
SENT_LINE = re.compile(
    r"^(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\bsent (?P<batch>[\w.]+"
    r"(?: x\d+)?(?:, [\w.]+(?: x\d+)?)*)$",
    flags=re.MULTILINE,
)


def sends_of(log: Path, task: str) -> list[tuple[datetime, int]]:
    """(when, how many) for each batch in which the beat logging to `log` sent `task` (its
    log's local wall-clock times)."""
    found: list[tuple[datetime, int]] = []
    for line in SENT_LINE.finditer(log.read_text(errors="replace")):
        for item in line["batch"].split(", "):
            name, _, times = item.partition(" x")
            if name == task:
                stamp = datetime.strptime(line["stamp"], "%Y-%m-%d %H:%M:%S,%f")
                found.append((stamp, int(times or 1)))
    return found


def sent_count(log: Path, task: str) -> int:
    return sum(n for _, n in sends_of(log, task))


def send_times(log: Path, task: str) -> list[datetime]:
    """When the beat logging to `log` sent `task`, once per send."""
    return [stamp for stamp, n in sends_of(log, task) for _ in range(n)]


def leads(log: Path) -> bool:
    return "this beat leads now" in log.read_text(errors="replace")


@pytest.fixture
def beat(process_environment: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """One beat process; yields its log file."""
    log = tmp_path / "beat-1" / "beat.log"
    with celery_process(beat_command(log.parent), process_environment, log):
        yield log


async def runs_of(client: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/scheduler/periodic-tasks/{task_id}/runs", params={"limit": 200})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def finished(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r["state"] == "SUCCESS"]


async def run_events_until_done(ws: ClientConnection) -> list[dict[str, Any]]:
    """The run events a socket receives until a run ends."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["state"] not in ("SUCCESS", "FAILURE", "LOST"):
        message = json.loads(await asyncio.wait_for(ws.recv(), 20.0))
        if message["type"] == "event":
            events.append(message["data"])
    return events


@pytest.mark.usefixtures("worker", "beat")
async def test_a_task_created_through_the_api_runs_within_seconds_and_its_runs_are_recorded(
    client: httpx.AsyncClient, interval_task: Callable[..., dict[str, Any]]
) -> None:
    created = await client.post("/scheduler/periodic-tasks", json=interval_task(args=[2, 3]))
    assert created.status_code == 201, created.text
    task = created.json()

    runs = await eventually(lambda: runs_of(client, task["id"]), lambda r: len(finished(r)) >= 2)
    run = finished(runs)[0]
    assert run["task"] == "demo.add"
    assert run["periodic_task_id"] == task["id"]
    assert run["result"] == 5
    assert run["args"] == [2, 3]
    assert run["error"] is None
    assert run["runtime_ms"] is not None
    assert run["started_at"] <= run["finished_at"]
    # Sent by beat, which writes no history: the worker records when the message was sent.
    assert run["queued_at"] is not None
    assert run["queued_at"] <= run["started_at"]
    single = await client.get(f"/scheduler/runs/{run['task_id']}")
    assert single.json() == run

    # Beat writes last_run_at / total_run_count back in batches.
    async def stored() -> dict[str, Any]:
        response = await client.get(f"/scheduler/periodic-tasks/{task['id']}")
        body: dict[str, Any] = response.json()
        return body

    state = await eventually(stored, lambda t: t["total_run_count"] >= 2)
    assert state["last_run_at"] is not None


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("worker", "beat")
async def test_an_edit_changes_the_rhythm_and_disabling_stops_the_runs(
    client: httpx.AsyncClient, interval_task: Callable[..., dict[str, Any]]
) -> None:
    hourly = {"type": "interval", "every": 1, "period": "hours"}
    task = (
        await client.post("/scheduler/periodic-tasks", json=interval_task(schedule=hourly))
    ).json()
    await asyncio.sleep(2)
    assert await runs_of(client, task["id"]) == []

    every_second = {"type": "interval", "every": 1, "period": "seconds"}
    edited = await client.patch(
        f"/scheduler/periodic-tasks/{task['id']}", json={"schedule": every_second}
    )
    assert edited.status_code == 200
    await eventually(lambda: runs_of(client, task["id"]), lambda r: len(finished(r)) >= 3)

    disabled = await client.patch(
        f"/scheduler/periodic-tasks/{task['id']}", json={"enabled": False}
    )
    assert disabled.status_code == 200
    # Let a dispatch already on its way land, then nothing more may come.
    await asyncio.sleep(2)
    settled = len(await runs_of(client, task["id"]))
    await asyncio.sleep(3)
    assert len(await runs_of(client, task["id"])) == settled


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("worker", "beat")
async def test_a_run_beat_sends_reaches_its_owners_socket_queued_then_started_and_nobody_else(
    settings: SchedulerSettings,
    signer: TokenSigner,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    once = {"type": "clocked", "run_at": "2020-01-01T00:00:00Z"}
    tokens = {who: signer.token(sub=str(uuid.uuid4()), name=who) for who in ("alice", "bob")}
    bearer = {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}
    async with serving(create_app(settings, keys=signer.keys())) as url:
        events_url = url.replace("http://", "ws://", 1) + "/scheduler/events"
        async with (
            httpx.AsyncClient(base_url=url, headers=bearer["alice"]) as alice,
            httpx.AsyncClient(base_url=url, headers=bearer["bob"]) as bob,
            connect(events_url, additional_headers=bearer["alice"]) as alice_ws,
            connect(events_url, additional_headers=bearer["bob"]) as bob_ws,
        ):
            for ws in (alice_ws, bob_ws):
                assert json.loads(await ws.recv())["type"] == "welcome"
            alices = (
                await alice.post("/scheduler/periodic-tasks", json=interval_task(schedule=once))
            ).json()
            seen = await run_events_until_done(alice_ws)
            assert [e["state"] for e in seen] == ["PENDING", "STARTED", "SUCCESS"]
            assert {e["periodic_task_id"] for e in seen} == {alices["id"]}
            assert len({e["task_id"] for e in seen}) == 1

            bobs = (
                await bob.post("/scheduler/periodic-tasks", json=interval_task(schedule=once))
            ).json()
            # Bob's socket carries his own run, and nothing of Alice's came before it.
            seen = await run_events_until_done(bob_ws)
            assert [e["state"] for e in seen] == ["PENDING", "STARTED", "SUCCESS"]
            assert {e["periodic_task_id"] for e in seen} == {bobs["id"]}


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("worker")
async def test_run_now_sends_an_async_task_and_its_run_is_recorded(
    client: httpx.AsyncClient, interval_task: Callable[..., dict[str, Any]]
) -> None:
    yearly = {
        "type": "crontab",
        "minute": "0",
        "hour": "0",
        "day_of_month": "1",
        "month_of_year": "1",
    }
    body = interval_task(task="demo.sleep", args=[0.2], schedule=yearly)
    task = (await client.post("/scheduler/periodic-tasks", json=body)).json()

    accepted = await client.post(f"/scheduler/periodic-tasks/{task['id']}/run")
    assert accepted.status_code == 202
    task_id = accepted.json()["task_id"]

    async def run() -> dict[str, Any]:
        response = await client.get(f"/scheduler/runs/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    done = await eventually(run, lambda r: r["state"] == "SUCCESS")
    assert done["task"] == "demo.sleep"
    assert done["periodic_task_id"] == task["id"]
    assert done["result"] >= 0.2
    assert [r["task_id"] for r in await runs_of(client, task["id"])] == [task_id]


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_second_beat_stands_by_while_the_first_lives_and_takes_over_when_it_dies(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
    process_environment: dict[str, str],
    tmp_path: Path,
) -> None:
    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    first_log = tmp_path / "beat-a" / "beat.log"
    second_log = tmp_path / "beat-b" / "beat.log"
    with celery_process(beat_command(first_log.parent), process_environment, first_log) as first:

        async def first_sent() -> int:
            return sent_count(first_log, "demo.add")

        await eventually(first_sent, lambda n: n >= 1)
        with celery_process(beat_command(second_log.parent), process_environment, second_log):

            async def standing_by() -> bool:
                return "waiting for the leader lock" in second_log.read_text(errors="replace")

            await eventually(standing_by, bool)
            await asyncio.sleep(4)
            assert sent_count(second_log, "demo.add") == 0
            assert not leads(second_log)
            assert sent_count(first_log, "demo.add") >= 3

            stop_process(first, kill=True)
            killed_at = datetime.now()
            killed_after = sent_count(first_log, "demo.add")

            async def second_sent() -> int:
                return sent_count(second_log, "demo.add")

            await eventually(second_sent, lambda n: n >= 2)
            assert leads(second_log)
            assert sent_count(first_log, "demo.add") == killed_after

    # The handover is bounded by the lock's TTL (3 s here) plus a tick; across it the every-1 s
    # task is sent neither twice (two sends closer than half its interval) nor left out longer.
    lock_ttl = timedelta(seconds=float(process_environment["SCHEDULER_BEAT_LOCK_TTL_SECONDS"]))
    bound = lock_ttl + timedelta(seconds=3)
    first_sends, second_sends = (
        send_times(first_log, "demo.add"),
        send_times(second_log, "demo.add"),
    )
    assert second_sends[0] - killed_at <= bound
    gaps = [b - a for a, b in pairwise(sorted(first_sends + second_sends))]
    assert min(gaps) >= timedelta(seconds=0.5)
    assert max(gaps) <= bound
    assert task["id"]
