"""Periodic-task use cases: validation against the catalog, CRUD, run now, run history.

A task belongs to the user who created it, and its runs with it: a non-admin finds only their
own (anyone else's is "not found", as if it did not exist); admins find every task and run,
those of SYSTEM_OWNER (the seeded ones) included.

Tasks a worker declares admin-only (the platform's housekeeping, whose arguments reach every
user's data) are listed to admins only, and only admins may create a periodic task running one,
point a task at one or change its arguments, or run one now.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from common.clock import utcnow
from common.errors import InvalidInputError
from common.pagination import Page, PageParams
from common.patch import refuse_nulls
from common.tokens import AccessClaims
from scheduler.collaborators import RunHistory, TaskCatalog, TaskSender
from scheduler.errors import (
    AdminOnlyTaskError,
    BrokerUnavailableError,
    PeriodicTaskNameTakenError,
    PeriodicTaskNotFoundError,
    RunNotFoundError,
)
from scheduler.models import PeriodicTask
from scheduler.repository import PeriodicTaskRepository
from scheduler.schedule_specs import ClockedSpec, ScheduleSpec, schedule_from_json
from scheduler.schemas import (
    PeriodicTaskCreate,
    PeriodicTaskRead,
    PeriodicTaskUpdate,
    RunAccepted,
    RunRead,
    TaskInfo,
)
from tasks.runs import RunState


def _name_taken(name: str) -> PeriodicTaskNameTakenError:
    return PeriodicTaskNameTakenError(f"A periodic task named {name!r} exists.")


# What a task sends: a non-admin changing any of them must not end up running an admin-only task
# with arguments of his choosing (renaming, rescheduling, disabling one he owns stays his).
ADMIN_CONTROLLED = frozenset({"task", "args", "kwargs"})

NOT_NULLABLE = frozenset(
    {"name", "task", "schedule", "args", "kwargs", "enabled", "one_off", "description"}
)


class PeriodicTaskService:
    def __init__(
        self,
        repository: PeriodicTaskRepository,
        catalog: TaskCatalog,
        sender: TaskSender,
        history: RunHistory,
    ) -> None:
        self.repository = repository
        self.catalog = catalog
        self.sender = sender
        self.history = history

    async def registered_tasks(self, user: AccessClaims) -> list[TaskInfo]:
        tasks = await self.catalog.tasks()
        admin_only = await self.catalog.admin_only()
        return [
            TaskInfo(name=name, description=doc, admin_only=name in admin_only)
            for name, doc in tasks.items()
            if user.adm or name not in admin_only
        ]

    async def create(self, user: AccessClaims, data: PeriodicTaskCreate) -> PeriodicTaskRead:
        await self._require_registered(data.task)
        await self._require_allowed(user, data.task)
        _check_times(data.start_time, data.expires_at, expiry_changed=True)
        if "one_off" in data.model_fields_set:
            _check_one_off(data.one_off, clocked=isinstance(data.schedule, ClockedSpec))
        if await self.repository.name_taken(user.sub, data.name):
            raise _name_taken(data.name)
        task = new_periodic_task(data, owner_id=user.sub)
        try:
            await self.repository.add(task)
        except IntegrityError as exc:
            # Lost a race with a concurrent create or rename: the check above passed for both.
            raise _name_taken(data.name) from exc
        return to_read(task)

    async def page(
        self, user: AccessClaims, params: PageParams, *, owner_id: str | None = None
    ) -> Page[PeriodicTaskRead]:
        """`owner_id` narrows an admin's list to one owner; a non-admin's list is always their
        own, so asking for anyone else's finds nothing."""
        if not user.adm:
            if owner_id not in (None, user.sub):
                return Page(items=[], total=0)
            owner_id = user.sub
        items, total = await self.repository.page(owner_id, params)
        return Page(items=[to_read(t) for t in items], total=total)

    async def get(self, user: AccessClaims, task_id: uuid.UUID) -> PeriodicTaskRead:
        return to_read(await self._task(user, task_id))

    async def update(
        self, user: AccessClaims, task_id: uuid.UUID, data: PeriodicTaskUpdate
    ) -> PeriodicTaskRead:
        task = await self._task(user, task_id)
        changes = data.model_dump(mode="python", exclude_unset=True)
        refuse_nulls(changes, NOT_NULLABLE)
        if "task" in changes and changes["task"] != task.task:
            await self._require_registered(changes["task"])
        if ADMIN_CONTROLLED & changes.keys():
            await self._require_allowed(user, changes.get("task", task.task))
        if "name" in changes and await self.repository.name_taken(
            task.owner_id, changes["name"], other_than=task.id
        ):
            raise _name_taken(changes["name"])
        start = changes.get("start_time", task.start_time)
        expires = changes.get("expires_at", task.expires_at)
        _check_times(start, expires, expiry_changed="expires_at" in changes)
        _settle_one_off(task, changes, data.schedule)
        if data.schedule is not None:
            changes["schedule"] = data.schedule.model_dump(mode="json")
            changes["schedule_type"] = data.schedule.type
        for field, value in changes.items():
            setattr(task, field, value)
        try:
            await self.repository.save(task)
        except IntegrityError as exc:
            if "name" not in changes:  # the name is the only unique column a change can clash on
                raise
            # Lost a race with a concurrent create or rename: the check above passed for both.
            raise _name_taken(changes["name"]) from exc
        return to_read(task)

    async def delete(self, user: AccessClaims, task_id: uuid.UUID) -> None:
        await self.repository.delete(await self._task(user, task_id))

    async def run_now(self, user: AccessClaims, task_id: uuid.UUID) -> RunAccepted:
        task = await self._task(user, task_id)
        await self._require_allowed(user, task.task)
        sent_id = str(uuid.uuid4())
        # Announced before the send: a worker fast enough must not announce STARTED first.
        await self.history.announce(sent_id, task.task, RunState.PENDING, periodic_task_id=task.id)
        try:
            await self.sender.send(
                task.task,
                args=list(task.args),
                kwargs=dict(task.kwargs),
                queue=task.queue,
                priority=task.priority,
                periodic_task_id=task.id,
                task_id=sent_id,
            )
        except BrokerUnavailableError:
            await self.history.announce(
                sent_id,
                task.task,
                RunState.FAILURE,
                periodic_task_id=task.id,
                error="the task could not be sent to the broker",
            )
            raise
        await self.history.record_queued(
            sent_id, task.task, periodic_task_id=task.id, args=task.args, kwargs=task.kwargs
        )
        return RunAccepted(task_id=sent_id)

    async def runs(
        self, user: AccessClaims, task_id: uuid.UUID, params: PageParams
    ) -> Page[RunRead]:
        await self._task(user, task_id)
        return await self.history.for_periodic_task(task_id, params.limit, params.offset)

    async def run(self, user: AccessClaims, run_task_id: str) -> RunRead:
        """A run is seen by whoever sees its periodic task; one with no task (never had one, or
        it was deleted) by admins only."""
        run = await self.history.get(run_task_id)
        if run is None or not (user.adm or await self._owns_run(user, run)):
            raise RunNotFoundError(f"No run with task id {run_task_id!r} is recorded.")
        return run

    async def _owns_run(self, user: AccessClaims, run: RunRead) -> bool:
        if run.periodic_task_id is None:
            return False
        try:
            task_id = uuid.UUID(run.periodic_task_id)
        except ValueError:
            return False
        task = await self.repository.get(task_id)
        return task is not None and task.owner_id == user.sub

    async def _task(self, user: AccessClaims, task_id: uuid.UUID) -> PeriodicTask:
        task = await self.repository.get(task_id)
        if task is None or not (user.adm or task.owner_id == user.sub):
            raise PeriodicTaskNotFoundError(f"No periodic task {task_id}.")
        return task

    async def _require_allowed(self, user: AccessClaims, name: str) -> None:
        """Refuse a non-admin an admin-only task (admins are never asked the catalog)."""
        if not user.adm and name in await self.catalog.admin_only():
            raise AdminOnlyTaskError(name)

    async def _require_registered(self, name: str) -> None:
        if name not in await self.catalog.tasks():
            raise InvalidInputError(
                "task", f"no worker has registered a task named {name!r}", code="unknown_task"
            )


def new_periodic_task(data: PeriodicTaskCreate, *, owner_id: str) -> PeriodicTask:
    """The row for a validated create request, not yet added (the API and `scheduler.seed`)."""
    values = data.model_dump(mode="python")
    values["owner_id"] = owner_id
    values["schedule"] = data.schedule.model_dump(mode="json")
    values["schedule_type"] = data.schedule.type
    values["one_off"] = data.one_off or isinstance(data.schedule, ClockedSpec)
    return PeriodicTask(**values)


def _check_one_off(one_off: bool, *, clocked: bool) -> None:
    if clocked and not one_off:
        raise InvalidInputError(
            "one_off",
            "a clocked schedule runs once: it is always one-off",
            code="clocked_is_one_off",
        )


def _settle_one_off(
    task: PeriodicTask, changes: dict[str, Any], schedule: ScheduleSpec | None
) -> None:
    """Put in `changes` the one_off the task has after the update (see `PeriodicTaskUpdate`)."""
    was_clocked = task.schedule_type == "clocked"
    clocked = was_clocked if schedule is None else isinstance(schedule, ClockedSpec)
    if "one_off" in changes:
        _check_one_off(changes["one_off"], clocked=clocked)
    elif clocked:
        changes["one_off"] = True
    elif was_clocked:
        # A clocked schedule forces one_off, so it says nothing of what the client wants for a
        # recurring one; kept, the task would run once and be disabled.
        changes["one_off"] = False


def _check_times(start: datetime | None, expires: datetime | None, *, expiry_changed: bool) -> None:
    if expires is None:
        return
    if start is not None and expires <= start:
        raise InvalidInputError("expires_at", "must be after start_time", code="invalid_time_range")
    if expiry_changed and expires <= utcnow():
        raise InvalidInputError("expires_at", "must be in the future", code="invalid_time_range")


def to_read(task: PeriodicTask) -> PeriodicTaskRead:
    spec: ScheduleSpec = schedule_from_json(task.schedule)
    values: dict[str, Any] = task.model_dump(mode="python", exclude={"schedule_type", "revision"})
    values["schedule"] = spec
    return PeriodicTaskRead.model_validate(values)
