"""Run state changes are announced on the live event stream once their record is written."""

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from common.redis_client import create_redis
from tasks.run_events import RUN_STATE, RUNS_STREAM
from worker.run_signals import RunRecorder
from worker.settings import WorkerSettings


async def test_a_runs_start_and_end_are_announced_in_order_with_its_periodic_task(
    mongo_url: str, redis_url: str
) -> None:
    database = f"events_{uuid.uuid4().hex[:8]}"
    settings = WorkerSettings.model_validate(
        {
            "mongo_url": mongo_url,
            "mongo_database": database,
            "log_json": False,
            "redis_url": redis_url,
        }
    )
    redis: Redis = create_redis(redis_url)
    await redis.delete(RUNS_STREAM)
    recorder = RunRecorder(settings, "host:1")
    run_id, periodic = str(uuid.uuid4()), str(uuid.uuid4())
    task = SimpleNamespace(name="demo.add", request=SimpleNamespace(periodic_task_id=periodic))
    try:
        await asyncio.to_thread(recorder.on_prerun, run_id, task, [1, 2], {})
        await asyncio.to_thread(recorder.on_postrun, run_id, task, 3, "SUCCESS")
        assert await asyncio.to_thread(recorder.flush)
        entries: list[Any] = list(await redis.xrange(RUNS_STREAM) or ())
        events = [json.loads(fields["data"]) for _, fields in entries]
        assert [fields["kind"] for _, fields in entries] == [RUN_STATE, RUN_STATE]
        assert [e["state"] for e in events] == ["STARTED", "SUCCESS"]
        assert {e["task_id"] for e in events} == {run_id}
        assert {e["periodic_task_id"] for e in events} == {periodic}
        assert events[1]["result"] == 3
        # Announced after the record: a client reading the run on the event finds that state.
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
        run = await client[database]["task_runs"].find_one({"task_id": run_id})
        await client.close()
        assert run is not None
        assert run["state"] == "SUCCESS"
    finally:
        recorder.close()
        await redis.aclose()
