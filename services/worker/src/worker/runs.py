"""Run history: one MongoDB document per task run, written by the worker, read by the scheduler."""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel


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
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime_ms: float | None = None
    result: Any = None
    error: str | None = None

    class Settings:
        name = "task_runs"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("task_id", ASCENDING)], unique=True),
            IndexModel([("periodic_task_id", ASCENDING), ("started_at", DESCENDING)]),
            IndexModel([("state", ASCENDING), ("worker_id", ASCENDING)]),
        ]
