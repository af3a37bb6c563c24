"""Keeps this worker's entry of the task catalog alive while the worker runs."""

import logging
import os
import socket
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from redis import Redis as SyncRedis
from redis.exceptions import RedisError

from tasks.catalog import admin_only_tasks, publish_catalog, task_catalog, withdraw_catalog
from worker.settings import WorkerSettings

logger = logging.getLogger("worker.catalog")


class CatalogHeartbeat:
    def __init__(self, app: Celery, settings: WorkerSettings) -> None:
        self.app = app
        self.ttl = settings.catalog_ttl_seconds
        self.redis_url = settings.redis_url
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _redis(self) -> SyncRedis:
        return SyncRedis.from_url(
            self.redis_url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )

    def _beat(self) -> None:
        redis = self._redis()
        catalog = task_catalog(self.app.tasks.values())
        admin_only = admin_only_tasks(self.app.tasks.values())
        try:
            while True:
                try:
                    publish_catalog(redis, self.worker_id, catalog, self.ttl, admin_only)
                except (RedisError, OSError) as exc:
                    logger.warning("could not publish the task catalog: %s", type(exc).__name__)
                if self._stop.wait(self.ttl / 3):
                    return
        finally:
            redis.close()

    def start(self, **_: Any) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._beat, name="catalog-heartbeat", daemon=True)
        self._thread.start()
        logger.info("task catalog published", extra={"worker_id": self.worker_id})

    def stop(self, **_: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        redis = self._redis()
        try:
            withdraw_catalog(redis, self.worker_id)
        except (RedisError, OSError) as exc:
            logger.warning("could not withdraw the task catalog: %s", type(exc).__name__)
        finally:
            redis.close()


def connect_catalog_heartbeat(app: Celery, settings: WorkerSettings) -> CatalogHeartbeat:
    heartbeat = CatalogHeartbeat(app, settings)
    worker_ready.connect(heartbeat.start, weak=False)
    worker_shutdown.connect(heartbeat.stop, weak=False)
    return heartbeat
