"""The catalog of registered task names, published by every worker for the scheduler to read.

Each worker keeps one Redis hash `worker:catalog:{worker id}` (task name -> docstring) alive with
a TTL it renews on a heartbeat, so the tasks of a worker that died drop out of the catalog on
their own. The catalog is the union of the live hashes.

Beside it, a set `worker:catalog-admin:{worker id}` (same transaction, same TTL) names the tasks
declared `admin_only` (`tasks.tasks_api.task`), which only admins may schedule or run. A second
key, not a change of the hash's values, so readers of the catalog alone (beat) are unaffected and
a worker that publishes no such set flags nothing. A task is admin-only when any live worker
flags it.
"""

import inspect
from collections.abc import Collection, Iterable, Mapping

from celery import Task
from redis import Redis as SyncRedis
from redis.asyncio import Redis

CATALOG_PREFIX = "worker:catalog:"
# Not matched by `worker:catalog:*`, so scans of the catalog never see these sets.
ADMIN_ONLY_PREFIX = "worker:catalog-admin:"


def catalog_key(worker_id: str) -> str:
    return f"{CATALOG_PREFIX}{worker_id}"


def admin_only_key(worker_id: str) -> str:
    return f"{ADMIN_ONLY_PREFIX}{worker_id}"


def task_catalog(tasks: Iterable[Task]) -> dict[str, str]:
    """Name -> docstring of our tasks (Celery's own `celery.*` tasks are not offered)."""
    catalog: dict[str, str] = {}
    for task in tasks:
        name = str(task.name)
        if name.startswith("celery."):
            continue
        doc = getattr(task, "__doc__", None) or getattr(task.run, "__doc__", None) or ""
        catalog[name] = inspect.cleandoc(doc) if doc else ""
    return catalog


def admin_only_tasks(tasks: Iterable[Task]) -> frozenset[str]:
    """The names of the tasks declared `admin_only`."""
    return frozenset(str(task.name) for task in tasks if getattr(task, "admin_only", False) is True)


def publish_catalog(
    redis: SyncRedis,
    worker_id: str,
    catalog: Mapping[str, str],
    ttl_seconds: int,
    admin_only: Collection[str] = frozenset(),
) -> None:
    """Replace this worker's hash and admin-only set and renew their TTL in one transaction."""
    key = catalog_key(worker_id)
    flagged_key = admin_only_key(worker_id)
    flagged = sorted(name for name in admin_only if name in catalog)
    with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key, flagged_key)
        if catalog:
            for name, doc in catalog.items():
                pipe.hset(key, name, doc)
            pipe.expire(key, ttl_seconds)
        if flagged:
            pipe.sadd(flagged_key, *flagged)
            pipe.expire(flagged_key, ttl_seconds)
        pipe.execute()


def withdraw_catalog(redis: SyncRedis, worker_id: str) -> None:
    redis.delete(catalog_key(worker_id), admin_only_key(worker_id))


async def read_catalog(redis: "Redis") -> dict[str, str]:
    """Every task name any live worker has registered, with its docstring."""
    merged: dict[str, str] = {}
    async for key in redis.scan_iter(match=f"{CATALOG_PREFIX}*", count=100):
        entries = await redis.hgetall(key)
        for name, doc in entries.items():
            merged.setdefault(str(name), str(doc))
    return dict(sorted(merged.items()))


async def read_admin_only(redis: "Redis") -> frozenset[str]:
    """The task names any live worker has declared admin-only."""
    flagged: set[str] = set()
    async for key in redis.scan_iter(match=f"{ADMIN_ONLY_PREFIX}*", count=100):
        flagged.update(str(name) for name in await redis.smembers(key))
    return frozenset(flagged)


async def live_worker_ids(redis: "Redis") -> set[str]:
    """The workers whose heartbeat is alive (their catalog hash has not expired)."""
    return {
        str(key).removeprefix(CATALOG_PREFIX)
        async for key in redis.scan_iter(match=f"{CATALOG_PREFIX}*", count=100)
    }
