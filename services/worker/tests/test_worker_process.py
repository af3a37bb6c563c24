"""A real worker process: typed calls, native async tasks, run history, the task catalog."""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis

from common.mongo import init_mongo
from tasks.catalog import ADMIN_ONLY_PREFIX, CATALOG_PREFIX
from tasks.runs import RunState, TaskRun
from tasks.tasks_api import TaskResult
from testkit.celery_processes import (
    celery_process,
    process_env,
    stop_process,
    wait_for_workers,
    worker_command,
)
from worker.demo import add, sleep

# Real worker/beat processes on the clock: `make test` runs this suite alone.
pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def runs_database() -> str:
    return f"worker_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker_log(
    broker_url: str, mongo_url: str, runs_database: str, tmp_path: Path
) -> Iterator[Path]:
    env = process_env(
        redis_url=broker_url, mongo_url=mongo_url, worker_mongo_database=runs_database
    )
    log = tmp_path / "worker.log"
    with celery_process(worker_command("wt"), env, log):
        wait_for_workers(broker_url)
        yield log


async def recorded_run(mongo_url: str, database: str, task_id: str) -> TaskRun:
    client = await init_mongo(mongo_url, database, [TaskRun])
    try:
        for _ in range(80):
            run = await TaskRun.find_one(TaskRun.task_id == task_id)
            if run is not None and run.state not in (RunState.PENDING, RunState.STARTED):
                return run
            await asyncio.sleep(0.25)
    finally:
        await client.close()
    pytest.fail(f"run {task_id} was not recorded as finished")


@pytest.mark.usefixtures("worker_log")
async def test_typed_calls_run_on_the_worker_and_are_recorded(
    mongo_url: str, runs_database: str
) -> None:
    result: TaskResult[float] = add.delay(2, 3)
    assert await asyncio.to_thread(result.get, 30) == 5
    run = await recorded_run(mongo_url, runs_database, result.id)
    assert run.task == "demo.add"
    assert run.state is RunState.SUCCESS
    assert run.args == [2, 3]
    assert run.result == 5
    assert run.runtime_ms is not None
    assert run.started_at is not None
    assert run.finished_at is not None
    # Sent from here, not through the API: the message carried its send time.
    assert run.queued_at is not None
    assert run.queued_at <= run.started_at
    assert run.attempts == 1


@pytest.mark.usefixtures("worker_log")
async def test_async_def_tasks_run_natively_and_concurrently(
    mongo_url: str, runs_database: str
) -> None:
    results = [sleep.options(priority=1).delay(0.5) for _ in range(4)]
    slept = [await asyncio.to_thread(r.get, 30) for r in results]
    assert all(s >= 0.5 for s in slept)
    run = await recorded_run(mongo_url, runs_database, results[0].id)
    assert run.task == "demo.sleep"
    assert run.state is RunState.SUCCESS


@pytest.mark.usefixtures("worker_log")
async def test_a_failing_task_is_recorded_with_its_error(
    mongo_url: str, runs_database: str
) -> None:
    result = add.apply_async(("two", 3))
    with pytest.raises(TypeError):
        await asyncio.to_thread(result.get, 30)
    run = await recorded_run(mongo_url, runs_database, result.id)
    assert run.state is RunState.FAILURE
    assert run.error is not None
    assert run.error.startswith("TypeError")
    assert run.result is None


@pytest.mark.usefixtures("worker_log")
async def test_a_run_the_store_cannot_hold_as_is_is_still_recorded_and_so_are_the_next_ones(
    mongo_url: str, runs_database: str
) -> None:
    beyond_64_bits = 2**70
    result = add.delay(beyond_64_bits, 1)
    assert await asyncio.to_thread(result.get, 30) == beyond_64_bits + 1

    run = await recorded_run(mongo_url, runs_database, result.id)
    assert run.state is RunState.SUCCESS
    assert run.result == str(beyond_64_bits + 1)
    assert run.args == []

    following = add.delay(2, 3)
    assert await asyncio.to_thread(following.get, 30) == 5
    following_run = await recorded_run(mongo_url, runs_database, following.id)
    assert following_run.args == [2, 3]
    assert following_run.result == 5


def test_the_worker_publishes_every_installed_task_and_withdraws_them_on_shutdown(
    broker_url: str, mongo_url: str, runs_database: str, tmp_path: Path
) -> None:
    env = process_env(
        redis_url=broker_url, mongo_url=mongo_url, worker_mongo_database=runs_database
    )
    redis = SyncRedis.from_url(broker_url, decode_responses=True)
    try:
        with celery_process(worker_command("wc"), env, tmp_path / "worker.log") as proc:
            wait_for_workers(broker_url)
            [key] = list(redis.scan_iter(match=f"{CATALOG_PREFIX}*"))
            catalog = {str(k): str(v) for k, v in redis.hgetall(key).items()}
            assert 0 < redis.ttl(key) <= 60
            [flagged_key] = list(redis.scan_iter(match=f"{ADMIN_ONLY_PREFIX}*"))
            admin_only = {str(name) for name in redis.smembers(flagged_key)}
            assert 0 < redis.ttl(flagged_key) <= 60
            stop_process(proc)
        assert admin_only == {"storage.cleanup_stale_uploads", "worker.prune_run_history"}
        assert catalog["demo.add"] == "Add two numbers."
        assert catalog["demo.sleep"].startswith("Sleep asynchronously")
        # Contributed by the storage package through the entry-point group.
        assert "storage.cleanup_stale_uploads" in catalog
        assert not any(name.startswith("celery.") for name in catalog)
        assert list(redis.scan_iter(match=f"{CATALOG_PREFIX}*")) == []
        assert list(redis.scan_iter(match=f"{ADMIN_ONLY_PREFIX}*")) == []
    finally:
        redis.flushdb()
        redis.close()
