"""The catalog of registered task names, published by every worker for the scheduler to read.

Each worker keeps one Redis hash `worker:catalog:{worker id}` (task name -> docstring) alive with
a TTL it renews on a heartbeat, so the tasks of a worker that died drop out of the catalog on
their own. The catalog is the union of the live hashes.
"""

import inspect
from collections.abc import Iterable, Mapping

from celery import Task
from redis import Redis as SyncRedis
from redis.asyncio import Redis

CATALOG_PREFIX = "worker:catalog:"


def catalog_key(worker_id: str) -> str:
    return f"{CATALOG_PREFIX}{worker_id}"


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


def publish_catalog(
    redis: SyncRedis, worker_id: str, catalog: Mapping[str, str], ttl_seconds: int
) -> None:
    """Replace this worker's hash and renew its TTL in one transaction."""
    key = catalog_key(worker_id)
    with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if catalog:
            for name, doc in catalog.items():
                pipe.hset(key, name, doc)
            pipe.expire(key, ttl_seconds)
        pipe.execute()


def withdraw_catalog(redis: SyncRedis, worker_id: str) -> None:
    redis.delete(catalog_key(worker_id))


async def read_catalog(redis: "Redis") -> dict[str, str]:
    """Every task name any live worker has registered, with its docstring."""
    merged: dict[str, str] = {}
    async for key in redis.scan_iter(match=f"{CATALOG_PREFIX}*", count=100):
        entries = await redis.hgetall(key)
        for name, doc in entries.items():
            merged.setdefault(str(name), str(doc))
    return dict(sorted(merged.items()))


async def live_worker_ids(redis: "Redis") -> set[str]:
    """The workers whose heartbeat is alive (their catalog hash has not expired)."""
    return {
        str(key).removeprefix(CATALOG_PREFIX)
        async for key in redis.scan_iter(match=f"{CATALOG_PREFIX}*", count=100)
    }
