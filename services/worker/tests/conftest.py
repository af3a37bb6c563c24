"""The broker the worker process tests share: a flushed database of the private Valkey, with this
process's Celery app pointed at it. One database for every module: this process's Celery app
keeps the result backend it first made, so modules naming different ones would disagree."""

from collections.abc import Iterator

import pytest
from redis import Redis as SyncRedis

from tasks.celery_app import process_app

WORKER_REDIS_DB = 6


@pytest.fixture(scope="module")
def broker_url(redis_url: str) -> Iterator[str]:
    """A flushed database of the private Valkey, and this process's Celery app pointed at it."""
    url = f"{redis_url.rsplit('/', 1)[0]}/{WORKER_REDIS_DB}"
    redis = SyncRedis.from_url(url)
    redis.flushdb()
    celery_app = process_app()
    previous = celery_app.conf.broker_url, celery_app.conf.result_backend
    celery_app.conf.update(broker_url=url, result_backend=url)
    try:
        yield url
    finally:
        celery_app.conf.update(broker_url=previous[0], result_backend=previous[1])
        celery_app.close()
        redis.flushdb()
        redis.close()
