"""Run state changes announced as live events (`common.live_events`), for the scheduler's socket.

Every change the run history records is announced on the `events:scheduler:runs` stream once its
record is written, so a client that reads the run over HTTP on an event finds that state. The
event names the run's periodic task; the scheduler, which owns the tasks, decides whose it is.
"""

import json
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from common.live_events.event_stream import publish_event, publish_events, stream_key

RUNS_STREAM = stream_key("scheduler", "runs")
RUN_STATE = "run.state"
# A result larger than this (as JSON) is left out of the event; GET /scheduler/runs/{id} has it.
MAX_RESULT_CHARS = 2048


def run_event(
    task_id: str,
    task: str | None,
    state: str,
    *,
    periodic_task_id: str | None,
    runtime_ms: float | None = None,
    error: str | None = None,
    result: Any = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "task_id": task_id,
        "task": task,
        "periodic_task_id": periodic_task_id,
        "state": state,
        "at": (at or datetime.now(UTC)).isoformat(),
        "runtime_ms": runtime_ms,
        "error": error[:MAX_RESULT_CHARS] if error else error,
    }
    if result is not None and len(repr(result)) <= MAX_RESULT_CHARS:
        event["result"] = result
    return event


async def announce_run(redis: "Redis", event: dict[str, Any]) -> None:
    """Publish; never raises (a lost event is logged; the run history stays the truth)."""
    await publish_event(redis, RUNS_STREAM, RUN_STATE, event)


async def announce_runs(redis: "Redis", events: list[dict[str, Any]]) -> None:
    """Publish `events` in order in one round trip; never raises (as `announce_run`)."""
    await publish_events(
        redis, RUNS_STREAM, RUN_STATE, [json.dumps(e, default=str) for e in events]
    )
