from redis import Redis as SyncRedis

from common.redis_client import create_redis
from worker.catalog import publish_catalog, read_catalog, task_catalog, withdraw_catalog
from worker.celery_app import celery_app
from worker.demo import add


def test_catalog_lists_our_tasks_with_docstrings_and_hides_celery_internals() -> None:
    catalog = task_catalog([add.celery_task, celery_app.tasks["celery.chord_unlock"]])
    assert catalog == {"demo.add": "Add two numbers."}


async def test_catalog_is_the_union_of_live_workers_and_forgets_withdrawn_ones(
    redis_url: str,
) -> None:
    sync = SyncRedis.from_url(redis_url, decode_responses=True)
    redis = create_redis(redis_url)
    try:
        publish_catalog(sync, "w1", {"demo.add": "Add."}, 60)
        publish_catalog(sync, "w2", {"demo.sleep": "Sleep."}, 60)
        assert await read_catalog(redis) == {"demo.add": "Add.", "demo.sleep": "Sleep."}
        assert 0 < sync.ttl("worker:catalog:w1") <= 60
        withdraw_catalog(sync, "w2")
        assert await read_catalog(redis) == {"demo.add": "Add."}
    finally:
        withdraw_catalog(sync, "w1")
        sync.close()
        await redis.aclose()
