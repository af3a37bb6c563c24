from redis import Redis as SyncRedis

from common.redis_client import create_redis
from tasks.catalog import (
    admin_only_tasks,
    publish_catalog,
    read_admin_only,
    read_catalog,
    task_catalog,
    withdraw_catalog,
)
from tasks.celery_app import process_app
from tasks.tasks_api import task


@task("sdk_test.catalog.add")
def add(x: float, y: float) -> float:
    """Add two numbers."""
    return x + y


@task("sdk_test.catalog.prune", admin_only=True)
def prune() -> None:
    """Housekeeping only admins may schedule."""


def test_catalog_lists_our_tasks_with_docstrings_and_hides_celery_internals() -> None:
    catalog = task_catalog([add.celery_task, process_app().tasks["celery.chord_unlock"]])
    assert catalog == {"sdk_test.catalog.add": "Add two numbers."}


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
    assert admin_only_tasks([add.celery_task, prune.celery_task]) == {"sdk_test.catalog.prune"}


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
