"""A run history outage delays a run's records; it does not lose them."""

import asyncio
import uuid
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

from common.mongo import create_mongo_client
from mesh.launch import running
from mesh.mongo import mongo_launch, mongo_url
from mesh.net import free_port
from tasks.runs import RunState, TaskRun
from worker.run_signals import RunRecorder
from worker.settings import WorkerSettings

PAUSE_SECONDS = 0.2


def _task(name: str) -> SimpleNamespace:
    """What the signal handlers read of a Celery task: its name and its request."""
    return SimpleNamespace(name=name, request=SimpleNamespace())


async def test_records_written_during_a_mongodb_outage_are_written_when_it_returns(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    servers = ExitStack()

    def start_mongo() -> None:
        launch = mongo_launch(tmp_path / "mongo", port)
        servers.enter_context(running(launch, tmp_path / "mongo.log"))

    database = f"outage_{uuid.uuid4().hex[:8]}"
    settings = WorkerSettings.model_validate(
        {
            "mongo_url": mongo_url(port),
            "mongo_database": database,
            "log_json": False,
            # Run events go to the private Valkey, never to a Redis the machine shares.
            "redis_url": redis_url,
        }
    )
    recorder = RunRecorder(settings, "host:1", pause_after_failure=PAUSE_SECONDS)
    before, during = str(uuid.uuid4()), str(uuid.uuid4())
    task = _task("demo.add")
    try:
        await asyncio.to_thread(start_mongo)
        await asyncio.to_thread(recorder.on_prerun, before, task, [1, 2], {})

        await asyncio.to_thread(servers.close)
        await asyncio.to_thread(recorder.on_postrun, before, task, 3, "SUCCESS")
        await asyncio.to_thread(recorder.on_prerun, during, task, [2, 2], {})

        await asyncio.to_thread(recorder.on_postrun, during, task, 4, "SUCCESS")

        # No task runs after the outage: the recorder retries by itself.
        await asyncio.to_thread(start_mongo)
        client = create_mongo_client(settings.mongo_url)
        try:
            runs = client[database][TaskRun.Settings.name]
            for _ in range(100):
                second = await runs.find_one({"task_id": during})
                if second is not None and second.get("finished_at") is not None:
                    break
                await asyncio.sleep(0.1)
            first = await runs.find_one({"task_id": before})
        finally:
            await client.close()
    finally:
        await asyncio.to_thread(recorder.close)
        await asyncio.to_thread(servers.close)

    assert first is not None
    assert second is not None
    assert (first["state"], first["result"]) == (RunState.SUCCESS.value, 3)
    assert (second["state"], second["result"]) == (RunState.SUCCESS.value, 4)
    assert second["started_at"] is not None
    assert second["finished_at"] is not None
