"""Every message carries when it was sent, so every run records `queued_at`, whoever sent it.

The API records a run it sends itself; beat and callers of the typed task API do not write the
history, so the time rides in the message (header `queued_at`) and the worker records it when
the run starts.
"""

from datetime import UTC, datetime
from typing import Any

from celery.signals import before_task_publish

QUEUED_AT_HEADER = "queued_at"


def stamp_queued_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault(QUEUED_AT_HEADER, datetime.now(UTC).isoformat())


def queued_at_of(request: Any) -> datetime | None:
    """The send time a task's request carries, if any (messages sent before this existed)."""
    value = getattr(request, QUEUED_AT_HEADER, None)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def connect_queued_at() -> None:
    """Stamp every message this process publishes (any Celery app: the signal is global)."""
    before_task_publish.connect(stamp_queued_at, weak=False)
