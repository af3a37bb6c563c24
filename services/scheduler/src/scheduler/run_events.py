"""The scheduler's live events: its runs as they change, on `GET /scheduler/events` (WebSocket).

The worker (and the scheduler itself, for runs sent with "run now" and runs the lost-run sweep
ends, and beat, for the runs it sends) announces every run state change on
`events:scheduler:runs` (`tasks.run_events`). A run
belongs to whoever owns its periodic task, as over HTTP: `RunOwners` looks the owner up here, in
the scheduler's own SQL, so a user never receives a run of a task that is not theirs, and a run
without a task (or whose task was deleted) goes to admins watching everyone's (`scope=all`).
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError

from common.live_events.event_stream import StreamEvent
from common.live_events.routes import events_router
from common.live_events.socket_session import EventFilter
from common.sql import SqlDatabase
from scheduler.models import PeriodicTask
from tasks.run_events import RUN_STATE
from tasks.runs import TaskRun

MAX_OWNERS_CACHED = 10_000


class RunFilter(EventFilter):
    """Query parameters (and `subscribe` filters) of the scheduler's event socket."""

    scope: str = Field("own", description="`own` (default) or `all` (admins: every user's runs)")
    periodic_task_id: uuid.UUID | None = Field(None, description="runs of one periodic task")
    task_id: str | None = Field(None, max_length=200, description="one run (its Celery task id)")
    task: str | None = Field(None, max_length=200, description="runs of one task name")


class RunStateEvent(BaseModel):
    """`run.state`: a run entered `state` (PENDING when sent, by "run now" or by beat, before
    any worker can start it; STARTED, SUCCESS, FAILURE, LOST, ...; FAILURE with `error` when the
    send itself failed). A run sent by "run now" is recorded (`GET /scheduler/runs/{task_id}`)
    as it is sent; one beat sent once a worker starts it, its `queued_at` the PENDING event's
    `at`. `result` is left out when larger than 2 KiB; the run's record holds the whole of it."""

    task_id: str
    task: str | None
    periodic_task_id: str | None
    state: str
    at: datetime
    runtime_ms: float | None = None
    error: str | None = None
    result: Any = None


router = events_router(
    "scheduler",
    RunFilter,
    {RUN_STATE: RunStateEvent},
    summary="The caller's task runs as their state changes",
)


class RunOwners:
    """Whose run an event is: the owner of its periodic task (owners never change, so they are
    cached; an unknown task is looked up again next time)."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        self._owners: dict[uuid.UUID, str] = {}

    async def __call__(self, event: StreamEvent) -> str | None:
        periodic_task_id = event.data.get("periodic_task_id")
        if not periodic_task_id and isinstance(event.data.get("task_id"), str):
            # A run ended by its worker's death: the event does not know its task; the record does.
            periodic_task_id = await _periodic_task_of(event.data["task_id"])
            event.data["periodic_task_id"] = periodic_task_id
        if not isinstance(periodic_task_id, str):
            return None
        try:
            key = uuid.UUID(periodic_task_id)
        except ValueError:
            return None
        owner = self._owners.get(key)
        if owner is None:
            async with self.database.session() as session:
                task = await session.get(PeriodicTask, key)
            if task is None:
                return None
            if len(self._owners) >= MAX_OWNERS_CACHED:
                self._owners.clear()
            owner = self._owners[key] = task.owner_id
        return owner


async def _periodic_task_of(task_id: str) -> str | None:
    try:
        run = await TaskRun.find_one(TaskRun.task_id == task_id)
    except (PyMongoError, OSError):
        return None
    return None if run is None else run.periodic_task_id
