"""Request and response bodies of the scheduler API."""

import json
import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from common.patch import never_null
from common.sql import SqlText
from common.text import utf8_encodable
from scheduler.instants import UtcInstant
from scheduler.schedule_specs import ScheduleSpec

MAX_ARGUMENTS_BYTES = 64 * 1024
# MongoDB refuses documents nested 100 deep; a run record adds a few levels of its own.
MAX_ARGUMENTS_DEPTH = 32
INT64 = range(-(2**63), 2**63)
TaskName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
QueueName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
Priority = Annotated[StrictInt, Field(ge=0, le=9)]


def _storable_json[T](value: T) -> T:
    """Arguments as both stores keep them: JSON in SQL and, with every run, BSON in MongoDB.

    Python's JSON parser accepts NaN and Infinity (which came back as null) and integers of any
    size (which MongoDB cannot hold, so runs went unrecorded and "run now" answered 500).
    """
    _check_storable(value, depth=0)
    if len(json.dumps(value)) > MAX_ARGUMENTS_BYTES:
        raise ValueError(f"must serialize to at most {MAX_ARGUMENTS_BYTES} bytes of JSON")
    return value


def _check_storable(value: Any, *, depth: int) -> None:
    if depth > MAX_ARGUMENTS_DEPTH:
        raise ValueError(f"must be nested at most {MAX_ARGUMENTS_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            # BSON keys end at a NUL. NUL inside string values is kept: SQL stores this JSON as
            # text (json, not jsonb) and BSON strings carry their length.
            if "\x00" in key:
                raise ValueError("object keys must not contain NUL characters")
            _check_encodable(key)
            _check_storable(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, depth=depth + 1)
    elif isinstance(value, str):
        _check_encodable(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        raise ValueError("integers must fit in 64 bits")


def _check_encodable(text: str) -> None:
    # The API's own answer and the run record of "run now" failed on a lone surrogate with 500s.
    if not utf8_encodable(text):
        raise ValueError(
            "text must not contain lone surrogates (\\ud800 to \\udfff without their pair)"
        )


class TaskInfo(BaseModel):
    name: str
    description: str
    admin_only: bool = Field(
        description="Only administrators may schedule or run it (listed to them alone)."
    )


class PeriodicTaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SqlText = Field(min_length=1, max_length=200)
    task: TaskName
    schedule: ScheduleSpec
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    enabled: StrictBool = True
    one_off: StrictBool = Field(
        False,
        description="Run once, then disable the task. A clocked schedule always runs once: "
        "one_off is true for it, and false is refused (`clocked_is_one_off`).",
    )
    start_time: UtcInstant | None = None
    expires_at: UtcInstant | None = None
    queue: QueueName | None = None
    priority: Priority | None = None
    description: SqlText = Field("", max_length=2000)

    _args_storable = field_validator("args", "kwargs")(_storable_json)


class PeriodicTaskUpdate(BaseModel):
    """Only the fields sent are changed; `null` clears an optional field (start_time,
    expires_at, queue, priority) and is refused for the others (`null_not_allowed`)."""

    model_config = ConfigDict(extra="forbid")

    name: SqlText | None = Field(None, min_length=1, max_length=200, json_schema_extra=never_null)
    task: TaskName | None = Field(None, json_schema_extra=never_null)
    schedule: ScheduleSpec | None = Field(None, json_schema_extra=never_null)
    args: list[Any] | None = Field(None, json_schema_extra=never_null)
    kwargs: dict[str, Any] | None = Field(None, json_schema_extra=never_null)
    enabled: StrictBool | None = Field(None, json_schema_extra=never_null)
    one_off: StrictBool | None = Field(
        None,
        description="Run once, then disable the task. A clocked schedule always runs once: "
        "with one, one_off is true and false is refused (`clocked_is_one_off`). Moving a task "
        "from a clocked schedule to an interval, crontab or solar one sets one_off to false "
        "unless the same request sets it; between recurring schedules it is kept.",
        json_schema_extra=never_null,
    )
    start_time: UtcInstant | None = None
    expires_at: UtcInstant | None = None
    queue: QueueName | None = None
    priority: Priority | None = None
    description: SqlText | None = Field(None, max_length=2000, json_schema_extra=never_null)

    _args_storable = field_validator("args", "kwargs")(_storable_json)


class PeriodicTaskRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    owner_id: str = Field(
        description="The id of the user who created the task, or `system` for the platform's "
        "seeded tasks (and tasks created before tasks had owners), which only admins see."
    )
    name: str
    task: str
    schedule: ScheduleSpec
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    enabled: bool
    one_off: bool
    start_time: datetime | None
    expires_at: datetime | None
    queue: str | None
    priority: int | None
    description: str
    last_run_at: datetime | None = Field(
        description="When beat last sent it; written back every SCHEDULER_BEAT_SYNC_SECONDS"
    )
    total_run_count: int = Field(
        description="How many times beat has sent it, written back every"
        " SCHEDULER_BEAT_SYNC_SECONDS (so up to that much behind). Runs sent with"
        " `POST .../run` are not counted; the run history lists every run, from any sender,"
        " kept for WORKER_RUN_HISTORY_DAYS, so its total may be larger or smaller"
    )
    created_at: datetime
    updated_at: datetime


class RunAccepted(BaseModel):
    task_id: str


class RunRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    task: str
    periodic_task_id: str | None
    state: str = Field(
        description="PENDING (queued), STARTED, then one of SUCCESS, FAILURE, RETRY, REVOKED, or"
        " LOST: the worker running it died (`error` says how)"
    )
    attempts: int = Field(
        0, description="How many times a worker started it: more than 1 for a redelivered run"
    )
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    runtime_ms: float | None
    result: Any
    error: str | None
