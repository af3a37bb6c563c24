"""The scheduler's SQL schema: periodic tasks and the change marker beat watches."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from common.clock import utcnow
from common.ids import uuid7
from common.sql import UtcDateTime

CHANGE_MARKER_ID = 1
# The owner of the platform's seeded tasks and of the rows that predate owners: no user id (auth's
# are UUIDs) can equal it, so only admins, who see every task, see these.
SYSTEM_OWNER = "system"


# The pydantic plugin trips over a field named `kwargs` next to its generated `**kwargs`.
class PeriodicTask(SQLModel, table=True):  # type: ignore[no-redef]
    __tablename__ = "periodic_tasks"
    # Names are unique per owner: a global one would tell a user that someone else's task has
    # the name, and let a user hold a seeded task's name so the seed would skip it.
    __table_args__ = (Index("ix_periodic_tasks_owner_name", "owner_id", "name", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    # The creating user's id (the token's `sub`), or SYSTEM_OWNER.
    owner_id: str = Field(default=SYSTEM_OWNER, max_length=64)
    name: str = Field(max_length=200)
    task: str = Field(max_length=200)
    schedule_type: str = Field(max_length=16)
    # The validated schedule spec as JSON (`scheduler.schedule_specs`).
    schedule: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    args: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kwargs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    one_off: bool = False
    start_time: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    queue: str | None = Field(default=None, max_length=200)
    priority: int | None = None
    description: str = Field(default="", max_length=2000)
    last_run_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    total_run_count: int = 0
    # The change-marker version this row was last written under: beat loads only rows newer
    # than the version it has seen.
    revision: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )


class ScheduleChange(SQLModel, table=True):
    """One row whose version goes up with every write through the API, in the same
    transaction; beat reloads its schedule when it sees a new version."""

    __tablename__ = "schedule_changes"

    id: int = Field(default=CHANGE_MARKER_ID, primary_key=True)
    version: int = 0
    changed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
