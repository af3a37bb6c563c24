"""A worker that stops cleanly writes every run record it buffered: with the periodic flush set
far beyond the test, only the flush at shutdown can have written them."""

import asyncio
import uuid
from pathlib import Path

import pytest

from common.mongo import create_mongo_client
from testkit.celery_processes import (
    celery_process,
    process_env,
    stop_process,
    wait_for_workers,
    worker_command,
)
from worker.demo import add

# Starts real worker processes: make test runs it, make test-fast does not.
pytestmark = pytest.mark.process

RUNS = 30


def _pool(command: list[str], pool: str) -> list[str]:
    at = command.index("--pool")
    command = [*command[: at + 1], pool, *command[at + 2 :]]
    at = command.index("--concurrency")
    return [*command[: at + 1], "2", *command[at + 2 :]]


@pytest.mark.parametrize("pool", ["threads", "prefork"])
async def test_a_clean_stop_loses_no_run_record(
    pool: str, broker_url: str, mongo_url: str, tmp_path: Path
) -> None:
    database = f"run_stop_{uuid.uuid4().hex[:8]}"
    env = process_env(
        redis_url=broker_url,
        mongo_url=mongo_url,
        worker_mongo_database=database,
        worker_run_history_flush_seconds="3600",
    )
    command = _pool(worker_command(f"rs{pool}"), pool)
    with celery_process(command, env, tmp_path / "worker.log") as proc:
        await asyncio.to_thread(wait_for_workers, broker_url)
        results = [add.delay(i, 1) for i in range(RUNS)]
        assert [await asyncio.to_thread(r.get, 60) for r in results] == [i + 1 for i in range(RUNS)]
        await asyncio.to_thread(stop_process, proc)
        assert proc.returncode == 0

    client = create_mongo_client(mongo_url)
    try:
        runs = client[database]["task_runs"]
        finished = await runs.count_documents(
            {"_id": {"$in": [r.id for r in results]}, "state": "SUCCESS"}
        )
    finally:
        await client.close()
    assert finished == RUNS
