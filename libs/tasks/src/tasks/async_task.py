"""The task base class: `async def` tasks run on the process's long-lived loop."""

import inspect
from typing import Any

from celery import Task

from tasks.event_loop import process_loop


class AsyncAwareTask(Task):  # type: ignore[misc]  # celery ships no type hints
    """Plain `def` tasks run unchanged; a task body returning a coroutine is awaited on
    `process_loop`, so async clients pooled on that loop are reused across tasks."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = super().__call__(*args, **kwargs)
        if inspect.iscoroutine(result):
            return process_loop.run(result)
        return result
