"""The scheduler ends the started runs of a worker whose heartbeat stopped, in the background."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from common.mongo import create_mongo_client
from scheduler.app import create_app
from scheduler.settings import SchedulerSettings
from tasks.catalog import publish_catalog
from tasks.lost_runs import LostRunSweeper
from tasks.runs import RunState, TaskRun
from testkit.tokens import TokenSigner


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


async def test_an_old_started_run_without_a_worker_is_ended_and_a_recent_one_is_not(
    settings: SchedulerSettings, redis: Redis
) -> None:
    """Runs recorded before runs were tied to a heartbeat have no `worker_id`: nothing tells
    whether their worker lives, so they end once they started longer ago than the bound."""
    mongo = create_mongo_client(settings.mongo_url)
    collection = mongo[settings.mongo_database][TaskRun.Settings.name]
    now = datetime.now(UTC)
    old, recent, no_field, finished = (uuid.uuid4().hex for _ in range(4))
    await collection.insert_many(
        [
            {"_id": old, "task_id": old, "task": "demo.sleep", "state": "STARTED",
             "worker_id": None, "started_at": now - timedelta(hours=2)},
            {"_id": recent, "task_id": recent, "task": "demo.sleep", "state": "STARTED",
             "worker_id": None, "started_at": now - timedelta(minutes=5)},
            # Recorded before `worker_id` existed at all.
            {"_id": no_field, "task_id": no_field, "task": "demo.sleep", "state": "STARTED",
             "started_at": now - timedelta(days=3)},
            {"_id": finished, "task_id": finished, "task": "demo.sleep", "state": "SUCCESS",
             "started_at": now - timedelta(days=3), "finished_at": now - timedelta(days=3)},
        ]
    )  # fmt: skip
    sweeper = LostRunSweeper(redis, collection, grace_seconds=30, unowned_after_seconds=3600)
    try:
        assert await sweeper.sweep() == 2
        assert await sweeper.sweep() == 0
        ids = [old, recent, no_field, finished]
        states = {d["_id"]: d async for d in collection.find({"_id": {"$in": ids}})}
    finally:
        await mongo.close()

    assert states[old]["state"] == states[no_field]["state"] == RunState.LOST.value
    assert "no worker is known" in str(states[old]["error"])
    assert states[old]["finished_at"] is not None
    assert states[recent]["state"] == RunState.STARTED.value
    assert states[finished]["state"] == RunState.SUCCESS.value
