from redis import Redis as SyncRedis

from common.redis_client import create_redis
from worker.catalog import (
    admin_only_tasks,
    publish_catalog,
    read_admin_only,
    read_catalog,
    task_catalog,
    withdraw_catalog,
)
from worker.celery_app import celery_app
from worker.demo import add
from worker.maintenance import prune_run_history


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


def test_only_tasks_declared_admin_only_are_flagged() -> None:
    tasks = [add.celery_task, prune_run_history.celery_task]
    assert admin_only_tasks(tasks) == {"worker.prune_run_history"}


async def test_admin_only_flags_are_published_beside_the_catalog_and_leave_it_unchanged(
    redis_url: str,
) -> None:
    sync = SyncRedis.from_url(redis_url, decode_responses=True)
    redis = create_redis(redis_url)
    try:
        publish_catalog(sync, "w1", {"demo.add": "Add.", "ops.prune": "Prune."}, 60, {"ops.prune"})
        # A worker publishing no flags (as before they existed) flags nothing of its own.
        publish_catalog(sync, "w2", {"demo.sleep": "Sleep."}, 60)
        assert await read_catalog(redis) == {
            "demo.add": "Add.",
            "demo.sleep": "Sleep.",
            "ops.prune": "Prune.",
        }
        assert await read_admin_only(redis) == {"ops.prune"}
        assert 0 < sync.ttl("worker:catalog-admin:w1") <= 60
        # Republished without the flag, the task is no longer admin-only.
        publish_catalog(sync, "w1", {"ops.prune": "Prune."}, 60)
        assert await read_admin_only(redis) == frozenset()
        publish_catalog(sync, "w1", {"ops.prune": "Prune."}, 60, {"ops.prune"})
        withdraw_catalog(sync, "w1")
        assert await read_admin_only(redis) == frozenset()
        assert await read_catalog(redis) == {"demo.sleep": "Sleep."}
    finally:
        withdraw_catalog(sync, "w1")
        withdraw_catalog(sync, "w2")
        sync.close()
        await redis.aclose()
