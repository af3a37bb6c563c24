"""Typed tasks: define with `@task("name")`, call with the function's own types.

    @task("demo.add")
    def add(x: int, y: int) -> int: ...

    add.delay(1, 2)                       # TaskResult[int]; add.delay("a") fails in mypy
    add.options(countdown=5).delay(1, 2)  # message options, arguments still checked
    add(1, 2)                             # runs here and now, returns int

`async def` tasks are typed by what they return once awaited; the worker awaits them on its
long-lived loop (`tasks.async_task`).

Defining a task builds no Celery app: the task is registered on the process's app
(`tasks.celery_app.process_app`) when that is first used, by a call or a send.

Delivery: by default a message is acknowledged when a worker takes it, so a task runs at most
once. `idempotent=True` sets `acks_late` and `reject_on_worker_lost`: the message is acknowledged
only after the task finishes and is redelivered if the worker dies mid-run, so the task runs at
least once - use it only for tasks that are safe to repeat.

`admin_only=True` marks a task only admins may schedule or run through the scheduler (the
platform's housekeeping, whose arguments reach every user's data); the worker publishes the flag
with its catalog (`tasks.catalog`).
"""

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, cast, overload

from celery import Task
from celery.result import AsyncResult

from tasks.celery_app import define_task, registered_task


class TaskResult[R]:
    """A sent task; `get()` waits for its result."""

    def __init__(self, result: AsyncResult) -> None:
        self.raw = result

    @property
    def id(self) -> str:
        return str(self.raw.id)

    @property
    def state(self) -> str:
        return str(self.raw.state)

    def get(self, timeout: float | None = None) -> R:
        return cast("R", self.raw.get(timeout=timeout))


class TaskCall[**P, R]:
    """A task with message options fixed; `delay` still checks the arguments."""

    def __init__(self, task: Task, options: dict[str, Any]) -> None:
        self._task = task
        self._options = options

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[R]:
        return TaskResult(self._task.apply_async(args, kwargs, **self._options))


class TypedTask[**P, R]:
    """A registered Celery task that keeps the parameter and return types of its function."""

    def __init__(self, name: str, doc: str | None) -> None:
        self._name = name
        self._celery_task: Task | None = None
        self.__doc__ = doc

    @property
    def name(self) -> str:
        return self._name

    @property
    def celery_task(self) -> Task:
        """The registered Celery task (on the process's app, built now if it is not yet)."""
        if self._celery_task is None:
            self._celery_task = registered_task(self._name)
        return self._celery_task

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run in this process, now (an `async def` body runs on the process loop)."""
        return cast("R", self.celery_task(*args, **kwargs))

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[R]:
        return TaskResult(self.celery_task.apply_async(args, kwargs))

    def options(
        self,
        *,
        queue: str | None = None,
        priority: int | None = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        expires: float | datetime | None = None,
        headers: dict[str, Any] | None = None,
    ) -> TaskCall[P, R]:
        given = {
            "queue": queue,
            "priority": priority,
            "countdown": countdown,
            "eta": eta,
            "expires": expires,
            "headers": headers,
        }
        return TaskCall(self.celery_task, {k: v for k, v in given.items() if v is not None})

    def apply_async(
        self,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> TaskResult[R]:
        """Celery's own signature, for callers holding arguments as data (e.g. from JSON)."""
        return TaskResult(self.celery_task.apply_async(tuple(args), kwargs or {}, **options))


class TaskDecorator:
    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = options

    @overload
    def __call__[**P, R](self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> TypedTask[P, R]: ...

    @overload
    def __call__[**P, R](self, fn: Callable[P, R], /) -> TypedTask[P, R]: ...

    def __call__(self, fn: Callable[..., Any], /) -> TypedTask[..., Any]:
        define_task(self.name, fn, self.options)
        return TypedTask(self.name, fn.__doc__)


def task(
    name: str,
    *,
    idempotent: bool = False,
    queue: str | None = None,
    max_retries: int | None = None,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    admin_only: bool = False,
) -> TaskDecorator:
    """Register the decorated function as the task `name` (names are the stable public API)."""
    options: dict[str, Any] = {}
    if idempotent:
        options.update(acks_late=True, reject_on_worker_lost=True)
    if queue is not None:
        options["queue"] = queue
    if max_retries is not None:
        options["max_retries"] = max_retries
    if time_limit is not None:
        options["time_limit"] = time_limit
    if soft_time_limit is not None:
        options["soft_time_limit"] = soft_time_limit
    if admin_only:
        # Celery makes unknown options attributes of the task class; the catalog reads it there.
        options["admin_only"] = True
    return TaskDecorator(name, options)
