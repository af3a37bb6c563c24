"""A periodic task as beat holds it in memory."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Self

from celery import Celery
from celery.beat import ScheduleEntry
from celery.schedules import BaseSchedule, schedstate
from celery.schedules import schedule as interval_schedule

from scheduler.clocked import ClockedSchedule
from scheduler.instants import as_utc
from scheduler.models import PeriodicTask
from scheduler.schedule_specs import schedule_from_json, to_celery_schedule

# How long beat leaves alone an entry that will not run again unless it is edited (an edit
# rebuilds every entry, so this only bounds idle re-checks).
DORMANT_SECONDS = 3600.0


class PeriodicTaskEntry(ScheduleEntry):  # type: ignore[misc]  # celery ships no type hints
    """Celery's entry plus the periodic task's gates: one_off, start_time, expires_at and
    whether any live worker has registered the task."""

    def __init__(
        self,
        *,
        name: str,
        task: str,
        schedule: BaseSchedule,
        args: list[Any],
        kwargs: dict[str, Any],
        options: dict[str, Any],
        last_run_at: datetime,
        total_run_count: int,
        app: Celery,
        one_off: bool = False,
        start_time: datetime | None = None,
        expires_at: datetime | None = None,
        registered: bool = True,
        relative: bool = False,
    ) -> None:
        super().__init__(
            name=name,
            task=task,
            schedule=schedule,
            args=args,
            kwargs=kwargs,
            options=options,
            last_run_at=last_run_at,
            total_run_count=total_run_count,
            relative=relative,
            app=app,
        )
        self.one_off = one_off
        self.start_time = start_time
        self.expires_at = expires_at
        self.registered = registered

    @classmethod
    def from_model(
        cls,
        model: PeriodicTask,
        app: Celery,
        *,
        last_run_at: datetime | None = None,
        total_run_count: int | None = None,
        schedules: dict[str, BaseSchedule] | None = None,
    ) -> "PeriodicTaskEntry":
        options: dict[str, Any] = {
            "headers": {"periodic_task_id": str(model.id)},
            # Nobody waits on a beat dispatch (the run history keeps the result); without this,
            # a Redis result backend subscribes beat to every task it sends.
            "ignore_result": True,
        }
        if model.queue:
            options["queue"] = model.queue
        if model.priority is not None:
            options["priority"] = model.priority
        if model.expires_at is not None:
            options["expires"] = model.expires_at
        last = last_run_at or model.last_run_at
        return cls(
            name=str(model.id),
            task=model.task,
            schedule=_celery_schedule(model.schedule, app, schedules),
            args=list(model.args),
            kwargs=dict(model.kwargs),
            options=options,
            # A task that never ran counts its first period from its creation.
            last_run_at=last if last is not None else model.created_at,
            total_run_count=model.total_run_count if total_run_count is None else total_run_count,
            app=app,
            one_off=model.one_off,
            start_time=model.start_time,
            expires_at=model.expires_at,
        )

    def __next__(self) -> Self:
        """The entry after a send: Celery's (last run now, one more run), built by copying
        rather than through `__init__` again (beat does this for every dispatch)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.last_run_at = self._now()
        new.total_run_count = self.total_run_count + 1
        return new

    next = __next__

    def _now(self) -> datetime:
        """`default_now()`, without Celery's time zone round trip when that is plain UTC."""
        if self._utc_clock():
            return datetime.now(UTC)
        return as_utc(self.default_now())

    def _utc_clock(self) -> bool:
        schedule = self.schedule
        return getattr(schedule, "nowfun", None) is None and _utc_app(self.app)

    @property
    def task_id(self) -> uuid.UUID:
        return uuid.UUID(self.name)

    @property
    def finished(self) -> bool:
        """A one-off task that has run, or a task past its expiry: never due again."""
        if self.one_off and self.total_run_count > 0:
            return True
        return self.expires_at is not None and self._now() >= self.expires_at

    def is_due(self) -> schedstate:
        now = self._now()
        if self.finished or not self.registered:
            return schedstate(False, DORMANT_SECONDS)
        if self.start_time is not None and now < self.start_time:
            return schedstate(False, (self.start_time - now).total_seconds())
        if isinstance(self.schedule, ClockedSchedule):
            return self.schedule.is_due(self.last_run_at if self.total_run_count else None)
        schedule = self.schedule
        if type(schedule) is interval_schedule and not schedule.relative and self._utc_clock():
            # Celery's `schedule.is_due` for a UTC clock, without its per-call time zone work.
            every = schedule.run_every
            left = (self.last_run_at + every - now).total_seconds()
            if left <= 0:
                return schedstate(True, every.total_seconds())
            return schedstate(False, left)
        return self.schedule.is_due(self.last_run_at)


def _utc_app(app: Celery) -> bool:
    """Whether `app.now()` is plain UTC (the worker's app always is)."""
    cached: bool | None = getattr(app, "_scheduler_utc_clock", None)
    if cached is None:
        cached = bool(app.conf.enable_utc) and str(app.timezone) == "UTC"
        app._scheduler_utc_clock = cached
    return cached


def _celery_schedule(
    stored: dict[str, Any], app: Celery, cache: dict[str, BaseSchedule] | None
) -> BaseSchedule:
    """The Celery schedule of a stored spec; stateless kinds are shared through `cache`."""
    key = json.dumps(stored, sort_keys=True)
    if cache is not None and key in cache:
        return cache[key]
    schedule = to_celery_schedule(schedule_from_json(stored), app)
    # celery's solar keeps an ephem observer it mutates while computing: never share it.
    if cache is not None and stored.get("type") != "solar":
        cache[key] = schedule
    return schedule
