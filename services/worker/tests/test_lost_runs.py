"""A run whose worker dies ends: `LOST` (at most once) or redelivered as the same run."""

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from redis.asyncio import Redis

from common.mongo import create_mongo_client
from tasks.lost_runs import LostRunSweeper
from tasks.runs import RunState, TaskRun
from testkit.celery_processes import (
    celery_process,
    process_env,
    stop_process,
    wait_for_workers,
    worker_command,
)
from worker.demo import sleep, sleep_at_least_once

# Real worker processes, killed on purpose: in `make test`, not in `make test-fast`.
pytestmark = pytest.mark.process

HEARTBEAT_TTL_SECONDS = 2


@pytest.fixture
def runs_database() -> str:
    return f"lost_runs_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def runs(
    mongo_url: str, runs_database: str
) -> AsyncIterator[AsyncCollection[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = create_mongo_client(mongo_url)
    yield client[runs_database][TaskRun.Settings.name]
    await client.close()


def _env(broker_url: str, mongo_url: str, runs_database: str) -> dict[str, str]:
    return process_env(
        redis_url=broker_url,
        mongo_url=mongo_url,
        worker_mongo_database=runs_database,
        worker_catalog_ttl_seconds=str(HEARTBEAT_TTL_SECONDS),
    )


def _prefork(command: list[str]) -> list[str]:
    """The worker command with a prefork pool of one process (the mesh's default pool)."""
    pool = command.index("--pool")
    command = [*command[: pool + 1], "prefork", *command[pool + 2 :]]
    concurrency = command.index("--concurrency")
    return [*command[: concurrency + 1], "1", *command[concurrency + 2 :]]


async def _run(
    runs: AsyncCollection[dict[str, object]], task_id: str, timeout: float = 30.0
) -> dict[str, object]:
    """The run's record once it is started (or later), polled for up to `timeout` seconds."""
    for _ in range(int(timeout * 10)):
        record = await runs.find_one({"task_id": task_id})
        if record is not None and record.get("state") != RunState.PENDING.value:
            return record
        await asyncio.sleep(0.1)
    pytest.fail(f"run {task_id} was never started")


async def _until_state(
    runs: AsyncCollection[dict[str, object]], task_id: str, states: set[str], timeout: float
) -> dict[str, object]:
    for _ in range(int(timeout * 10)):
        record = await runs.find_one({"task_id": task_id})
        if record is not None and record.get("state") in states:
            return record
        await asyncio.sleep(0.1)
    pytest.fail(f"run {task_id} did not reach {states} within {timeout}s: {record}")


def _attempts(record: dict[str, object]) -> int:
    """`TaskRun.attempts` of a stored record: its distinct starts."""
    starts = record.get("starts")
    assert isinstance(starts, list)
    return len(starts)


def _pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


async def test_a_run_whose_whole_worker_was_killed_is_swept_to_lost_within_the_bound(
    broker_url: str,
    mongo_url: str,
    runs_database: str,
    runs: AsyncCollection[dict[str, object]],
    tmp_path: Path,
) -> None:
    env = _env(broker_url, mongo_url, runs_database)
    with celery_process(worker_command("lw"), env, tmp_path / "worker.log") as proc:
        await asyncio.to_thread(wait_for_workers, broker_url)
        result = sleep.delay(30)
        started = await _run(runs, result.id)
        assert started["state"] == RunState.STARTED.value
        stop_process(proc, kill=True)

    redis = Redis.from_url(broker_url, decode_responses=True)
    sweeper = LostRunSweeper(redis, runs, grace_seconds=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        while loop.time() - began < HEARTBEAT_TTL_SECONDS + 10:
            if await sweeper.sweep():
                break
            await asyncio.sleep(0.5)
    finally:
        await redis.aclose()

    record = await runs.find_one({"task_id": result.id})
    assert record is not None
    assert record["state"] == RunState.LOST.value
    assert "died" in str(record["error"])
    assert record["finished_at"] is not None
    assert _attempts(record) == 1


async def test_a_live_worker_never_has_its_started_runs_swept(
    broker_url: str,
    mongo_url: str,
    runs_database: str,
    runs: AsyncCollection[dict[str, object]],
    tmp_path: Path,
) -> None:
    env = _env(broker_url, mongo_url, runs_database)
    redis = Redis.from_url(broker_url, decode_responses=True)
    try:
        with celery_process(worker_command("lv"), env, tmp_path / "worker.log"):
            await asyncio.to_thread(wait_for_workers, broker_url)
            result = sleep.delay(HEARTBEAT_TTL_SECONDS * 3)
            await _run(runs, result.id)
            sweeper = LostRunSweeper(redis, runs, grace_seconds=0)
            for _ in range(HEARTBEAT_TTL_SECONDS * 4):
                assert await sweeper.sweep() == 0
                await asyncio.sleep(0.5)
            await asyncio.to_thread(result.get, 30)
    finally:
        await redis.aclose()
    record = await runs.find_one({"task_id": result.id})
    assert record is not None
    assert record["state"] == RunState.SUCCESS.value


async def test_an_at_most_once_run_whose_pool_process_died_ends_lost_at_once(
    broker_url: str,
    mongo_url: str,
    runs_database: str,
    runs: AsyncCollection[dict[str, object]],
    tmp_path: Path,
) -> None:
    env = _env(broker_url, mongo_url, runs_database)
    command = _prefork(worker_command("lp"))
    with celery_process(command, env, tmp_path / "worker.log") as proc:
        await asyncio.to_thread(wait_for_workers, broker_url)
        result = sleep.delay(30)
        await _run(runs, result.id)
        [child] = _pool_children(proc.pid)
        os.kill(child, signal.SIGKILL)

        record = await _until_state(runs, result.id, {RunState.LOST.value}, timeout=15)

    assert "worker process lost" in str(record["error"])
    assert record["finished_at"] is not None


async def test_an_at_least_once_run_is_redelivered_as_the_same_run_with_its_attempts(
    broker_url: str,
    mongo_url: str,
    runs_database: str,
    runs: AsyncCollection[dict[str, object]],
    tmp_path: Path,
) -> None:
    env = _env(broker_url, mongo_url, runs_database)
    command = _prefork(worker_command("la"))
    with celery_process(command, env, tmp_path / "worker.log") as proc:
        await asyncio.to_thread(wait_for_workers, broker_url)
        result = sleep_at_least_once.delay(3)
        await _run(runs, result.id)
        [child] = _pool_children(proc.pid)
        os.kill(child, signal.SIGKILL)

        assert await asyncio.to_thread(result.get, 60) >= 3
        record = await _until_state(runs, result.id, {RunState.SUCCESS.value}, timeout=15)

    assert _attempts(record) == 2
    assert record["error"] is None
    assert await runs.count_documents({"task_id": result.id}) == 1
