"""Request and response bodies of the scheduler API."""

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scheduler.instants import UtcInstant
from scheduler.schedule_specs import ScheduleSpec

MAX_ARGUMENTS_BYTES = 64 * 1024
TaskName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
QueueName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
Priority = Annotated[int, Field(ge=0, le=9)]


def _bounded_json[T](value: T) -> T:
    if len(json.dumps(value)) > MAX_ARGUMENTS_BYTES:
        raise ValueError(f"must serialize to at most {MAX_ARGUMENTS_BYTES} bytes of JSON")
    return value


class TaskInfo(BaseModel):
    name: str
    description: str


class PeriodicTaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    task: TaskName
    schedule: ScheduleSpec
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    one_off: bool = False
    start_time: UtcInstant | None = None
    expires_at: UtcInstant | None = None
    queue: QueueName | None = None
    priority: Priority | None = None
    description: str = Field("", max_length=2000)

    _args_size = field_validator("args", "kwargs")(_bounded_json)


class PeriodicTaskUpdate(BaseModel):
    """Only the fields sent are changed; `null` clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    task: TaskName | None = None
    schedule: ScheduleSpec | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    enabled: bool | None = None
    one_off: bool | None = None
    start_time: UtcInstant | None = None
    expires_at: UtcInstant | None = None
    queue: QueueName | None = None
    priority: Priority | None = None
    description: str | None = Field(None, max_length=2000)

    _args_size = field_validator("args", "kwargs")(_bounded_json)


class PeriodicTaskRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
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
    last_run_at: datetime | None
    total_run_count: int
    created_at: datetime
    updated_at: datetime


class RunAccepted(BaseModel):
    task_id: str


class RunRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    task: str
    periodic_task_id: str | None
    state: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    runtime_ms: float | None
    result: Any
    error: str | None
