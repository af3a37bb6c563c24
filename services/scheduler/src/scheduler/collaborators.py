"""What the scheduler service talks to besides SQL: the task catalog, the broker, run history."""

import asyncio
import logging
import uuid
from typing import Any

from celery import Celery
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.pagination import Page
from scheduler.errors import (
    BrokerUnavailableError,
    CatalogUnavailableError,
    RunHistoryUnavailableError,
)
from scheduler.schemas import RunRead
from tasks.catalog import read_admin_only, read_catalog
from tasks.run_events import announce_run, run_event
from tasks.run_history import UNSTORABLE_ERRORS, record_queued
from tasks.runs import RunState, TaskRun

logger = logging.getLogger("scheduler.collaborators")
# Newest run first: by when it was sent, then started. `_id` (the task id) only breaks ties, so
# the order is stable; it says nothing of time since runs are keyed by their task id.
NEWEST_FIRST = {"queued_at": -1, "started_at": -1, "_id": -1}


class TaskCatalog:
    """The task names live workers have registered, and those declared admin-only
    (`tasks.catalog`)."""

    def __init__(self, redis: "Redis") -> None:
        self.redis = redis

    async def tasks(self) -> dict[str, str]:
        try:
            return await read_catalog(self.redis)
        except (RedisError, OSError) as exc:
            logger.warning("task catalog unreadable: %s", type(exc).__name__)
            raise CatalogUnavailableError("The workers' task catalog cannot be read.") from exc

    async def admin_only(self) -> frozenset[str]:
        try:
            return await read_admin_only(self.redis)
        except (RedisError, OSError) as exc:
            logger.warning("task catalog unreadable: %s", type(exc).__name__)
            raise CatalogUnavailableError("The workers' task catalog cannot be read.") from exc


class TaskSender:
    """Sends tasks by name through the broker (the scheduler never imports task code)."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    async def send(
        self,
        task: str,
        *,
        args: list[Any],
        kwargs: dict[str, Any],
        queue: str | None,
        priority: int | None,
        periodic_task_id: uuid.UUID,
        task_id: str | None = None,
    ) -> str:
        task_id = task_id or str(uuid.uuid4())
        options: dict[str, Any] = {
            "task_id": task_id,
            "headers": {"periodic_task_id": str(periodic_task_id)},
        }
        if queue:
            options["queue"] = queue
        if priority is not None:
            options["priority"] = priority
        try:
            # kombu publishes with blocking sockets: keep it off the event loop.
            await asyncio.to_thread(self.celery.send_task, task, args, kwargs, **options)
        except Exception as exc:
            logger.warning("could not send %s: %s", task, type(exc).__name__)
            raise BrokerUnavailableError("The task could not be sent to the broker.") from exc
        return task_id


class RunHistory:
    """Reads (and, for runs sent from the API, starts) the records the worker writes."""

    def __init__(self, events: "Redis | None" = None) -> None:
        # Where runs sent from the API are announced as queued (`tasks.run_events`).
        self.events = events

    async def record_queued(
        self,
        task_id: str,
        task: str,
        *,
        periodic_task_id: uuid.UUID,
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> None:
        try:
            await record_queued(
                task_id, task, periodic_task_id=str(periodic_task_id), args=args, kwargs=kwargs
            )
        except (PyMongoError, OSError, *UNSTORABLE_ERRORS) as exc:
            # The task is sent, whether the history is down or cannot encode these arguments:
            # an error answer would only get it sent again. The worker records it as it runs.
            logger.warning("could not record queued run %s: %s", task_id, type(exc).__name__)

    async def announce(
        self,
        task_id: str,
        task: str,
        state: RunState,
        *,
        periodic_task_id: uuid.UUID,
        error: str | None = None,
    ) -> None:
        """A live event for a run sent from the API (`tasks.run_events`)."""
        if self.events is not None:
            event = run_event(
                task_id, task, state.value, periodic_task_id=str(periodic_task_id), error=error
            )
            await announce_run(self.events, event)

    async def for_periodic_task(
        self, periodic_task_id: uuid.UUID, limit: int, offset: int
    ) -> Page[RunRead]:
        # One read for the count and the page: two (count, then find) disagreed while runs
        # were being written (`total` 1 beside 2 items).
        pipeline: list[dict[str, Any]] = [
            {"$match": {"periodic_task_id": str(periodic_task_id)}},
            {
                "$facet": {
                    "total": [{"$count": "n"}],
                    "items": [{"$sort": NEWEST_FIRST}, {"$skip": offset}, {"$limit": limit}],
                }
            },
        ]
        try:
            cursor = await TaskRun.get_pymongo_collection().aggregate(pipeline)
            [result] = await cursor.to_list()
        except (PyMongoError, OSError) as exc:
            raise RunHistoryUnavailableError("The run history cannot be read.") from exc
        total = result["total"][0]["n"] if result["total"] else 0
        runs = [TaskRun.model_validate(doc) for doc in result["items"]]
        return Page(items=[run_read(r) for r in runs], total=total)

    async def get(self, task_id: str) -> RunRead | None:
        try:
            # Keyed by the task id; a record from before that, not rekeyed yet, by its field.
            run = await TaskRun.find_one({"_id": task_id}) or await TaskRun.find_one(
                TaskRun.task_id == task_id
            )
        except (PyMongoError, OSError) as exc:
            raise RunHistoryUnavailableError("The run history cannot be read.") from exc
        return None if run is None else run_read(run)


def run_read(run: TaskRun) -> RunRead:
    return RunRead.model_validate(
        run.model_dump(mode="python", exclude={"id", "revision_id", "worker_id", "starts"})
    )
