"""Writes to the run history: upserts keyed by the Celery task id.

Upserts (never inserts) because the records of one run come from several places in any order:
the scheduler records a run it queued, the worker records its start and its end.
"""

import json
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from worker.runs import RunState, TaskRun


def json_safe(value: Any) -> Any:
    """`value` if it survives JSON, else its repr: a result must never break the record."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


async def record_queued(
    task_id: str,
    task: str,
    *,
    periodic_task_id: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
) -> None:
    await TaskRun.get_pymongo_collection().update_one(
        {"task_id": task_id},
        {
            "$setOnInsert": {
                "task_id": task_id,
                "task": task,
                "periodic_task_id": periodic_task_id,
                "state": RunState.PENDING.value,
                "args": json_safe(args),
                "kwargs": json_safe(kwargs),
                "queued_at": datetime.now(UTC),
            }
        },
        upsert=True,
    )


async def record_started(
    task_id: str,
    task: str,
    *,
    periodic_task_id: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
    started_at: datetime,
) -> None:
    await TaskRun.get_pymongo_collection().update_one(
        {"task_id": task_id},
        {
            "$set": {
                "task": task,
                "periodic_task_id": periodic_task_id,
                "state": RunState.STARTED.value,
                "args": json_safe(args),
                "kwargs": json_safe(kwargs),
                "started_at": started_at,
            },
            "$setOnInsert": {"task_id": task_id},
        },
        upsert=True,
    )


async def record_finished(
    task_id: str,
    task: str,
    *,
    state: str,
    result: Any,
    error: str | None,
    finished_at: datetime,
    runtime_ms: float | None,
) -> None:
    known = {s.value for s in RunState}
    await TaskRun.get_pymongo_collection().update_one(
        {"task_id": task_id},
        {
            "$set": {
                "state": state if state in known else RunState.FAILURE.value,
                "result": json_safe(result),
                "error": error,
                "finished_at": finished_at,
                "runtime_ms": runtime_ms,
            },
            "$setOnInsert": {"task_id": task_id, "task": task},
        },
        upsert=True,
    )


def stale_runs(cutoff: datetime) -> dict[str, Any]:
    """Runs whose last sign of life is before `cutoff`: the end of a finished run, else its
    start, else when it was queued (a run whose worker died never gets an end)."""
    return {
        "$or": [
            {"finished_at": {"$lt": cutoff}},
            {"finished_at": None, "started_at": {"$lt": cutoff}},
            {"finished_at": None, "started_at": None, "queued_at": {"$lt": cutoff}},
        ]
    }


async def prune_runs(collection: AsyncCollection[dict[str, object]], cutoff: datetime) -> int:
    """Delete the records `stale_runs(cutoff)` selects; returns how many went."""
    deleted = await collection.delete_many(stale_runs(cutoff))
    return deleted.deleted_count
