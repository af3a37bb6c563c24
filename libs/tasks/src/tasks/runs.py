"""Run history: one MongoDB document per task run, written by the worker, read by the scheduler.

A run's document is keyed by its Celery task id (`_id` = `task_id`): every write is an upsert by
`_id`, which every MongoDB server indexes, so no unique secondary index has to be checked (the
embedded server checked one by scanning the whole collection). `task_id` is kept as a field for
readers; `migrate_run_keys` (`tasks.run_history`) rekeys records written before this.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from beanie import Document, PydanticObjectId
from pydantic import Field, model_validator
from pymongo import ASCENDING, DESCENDING, IndexModel

# The unique `task_id` index records were keyed by before; `migrate_run_keys` drops it.
LEGACY_TASK_ID_INDEX = "task_id_1"
TASK_ID_INDEX = "task_id_lookup"


class RunState(StrEnum):
    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    RETRY = "RETRY"
    REVOKED = "REVOKED"
    # Terminal: the worker running it died (a killed process, a lost node); `error` says how.
    LOST = "LOST"


class TaskRun(Document):
    # The task id; an ObjectId only on a record from before the rekeying, not migrated yet.
    id: str | PydanticObjectId | None = None  # type: ignore[assignment]
    task_id: str
    task: str
    periodic_task_id: str | None = None
    state: RunState = RunState.PENDING
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    # The worker (`host:pid` of its main process) that last started it, and how many times a
    # worker started it: an at-least-once task redelivered after a worker loss is one run.
    worker_id: str | None = None
    attempts: int = 0
    # One key per recorded start (`$addToSet`), so a start written twice (a write replayed after
    # its reply was lost) counts once: `attempts` is their number.
    # Records from before `starts` existed keep the `attempts` they stored.
    starts: list[str] = Field(default_factory=list)
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime_ms: float | None = None
    result: Any = None
    error: str | None = None

    @model_validator(mode="after")
    def _attempts_from_starts(self) -> "TaskRun":
        if self.starts:
            self.attempts = len(self.starts)
        return self

    class Settings:
        name = "task_runs"
        indexes: ClassVar[list[IndexModel]] = [
            # Not unique: `_id` is the key. For readers of records not rekeyed yet.
            IndexModel([("task_id", ASCENDING)], name=TASK_ID_INDEX),
            IndexModel([("periodic_task_id", ASCENDING), ("started_at", DESCENDING)]),
            IndexModel([("state", ASCENDING), ("worker_id", ASCENDING)]),
        ]
