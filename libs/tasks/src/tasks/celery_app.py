"""The process's Celery app, built on first use; and the tasks registered on it.

Nothing here runs at import: a module defining tasks (`tasks.tasks_api.task`) can be imported
without a broker's settings. The tasks defined before the app exists are registered when it is
built (`process_app()`), the ones defined after it at once.
"""

import threading
from collections.abc import Callable
from typing import Any

from celery import Celery, Task

from common.settings import load_settings
from tasks.queued_at import connect_queued_at
from tasks.settings import TaskSettings

_lock = threading.RLock()
_app: Celery | None = None
# Every task defined in this process, by name: (its function, its Celery options).
_definitions: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {}


def build_celery(settings: TaskSettings, name: str = "worker") -> Celery:
    """A Celery app on the configured broker and result backend, JSON only, UTC."""
    app = Celery(
        name,
        broker=settings.broker_url,
        backend=settings.result_backend,
        task_cls="tasks.async_task:AsyncAwareTask",
        set_as_current=False,
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        result_expires=settings.result_expires_seconds,
        result_extended=True,
        task_track_started=True,
        # One message at a time per worker process, so acks_late tasks are not hoarded.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        result_backend_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds
        },
        beat_max_loop_interval=1,
    )
    return app


def process_app() -> Celery:
    """This process's Celery app with every task defined so far, built from `TaskSettings` the
    first time it is asked for. Every message the process sends carries when it was sent
    (`tasks.queued_at`)."""
    global _app
    with _lock:
        if _app is None:
            app = build_celery(load_settings(TaskSettings))
            connect_queued_at()
            for name, (fn, options) in _definitions.items():
                _register(app, name, fn, options)
            _app = app
        return _app


def define_task(name: str, fn: Callable[..., Any], options: dict[str, Any]) -> None:
    """Define the task `name`: registered on the process's app now if it exists, else when it
    is built."""
    with _lock:
        _definitions[name] = (fn, options)
        if _app is not None:
            _register(_app, name, fn, options)


def registered_task(name: str) -> Task:
    """The task `name` on the process's app (which this builds if it does not exist yet)."""
    return process_app().tasks[name]


def _register(app: Celery, name: str, fn: Callable[..., Any], options: dict[str, Any]) -> Task:
    return app.task(name=name, shared=False, lazy=False, **options)(fn)
