"""The scheduler ends the started runs of a worker whose heartbeat stopped, in the background."""

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from common.mongo import create_mongo_client
from scheduler.app import create_app
from scheduler.settings import SchedulerSettings
from testkit.tokens import TokenSigner
from worker.catalog import publish_catalog
from worker.runs import RunState, TaskRun


async def test_a_started_run_of_a_worker_without_heartbeat_is_shown_lost(
    settings: SchedulerSettings, signer: TokenSigner, redis: Redis
) -> None:
    fast = settings.model_copy(update={"lost_run_sweep_seconds": 0.2, "lost_run_grace_seconds": 0})
    mongo = create_mongo_client(fast.mongo_url)
    collection = mongo[fast.mongo_database][TaskRun.Settings.name]
    started = datetime.now(UTC)
    dead, alive = uuid.uuid4().hex, uuid.uuid4().hex
    await collection.insert_many(
        [
            {"task_id": dead, "task": "demo.sleep", "state": "STARTED", "worker_id": "gone:1"},
            {"task_id": alive, "task": "demo.sleep", "state": "STARTED", "worker_id": "here:2"},
        ]
    )
    await asyncio.to_thread(_beat, fast.redis_url, "here:2")
    app = create_app(fast, keys=signer.keys())
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                base_url="http://scheduler",
                headers={"Authorization": f"Bearer {signer.token(adm=True)}"},
            ) as http,
        ):
            for _ in range(50):
                run = (await http.get(f"/runs/{dead}")).json()
                if run["state"] != RunState.STARTED.value:
                    break
                await asyncio.sleep(0.1)
            living = (await http.get(f"/runs/{alive}")).json()
    finally:
        await mongo.close()

    assert run["state"] == RunState.LOST.value
    assert "gone:1" in run["error"]
    assert run["finished_at"] >= started.isoformat()[:19]
    assert "worker_id" not in run
    assert living["state"] == RunState.STARTED.value


def _beat(redis_url: str, worker_id: str) -> None:
    sync = SyncRedis.from_url(redis_url, decode_responses=True)
    try:
        publish_catalog(sync, worker_id, {"demo.sleep": "Sleep."}, 600)
    finally:
        sync.close()
