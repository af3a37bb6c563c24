"""The change marker as beat reads it: every write through the API bumps one row's version;
beat polls that row and reads only the rows written since the version it last saw.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from common.sql import SqlDatabase
from scheduler.models import PeriodicTask
from scheduler.repository import BeatRepository


@dataclass(frozen=True, slots=True)
class Everything:
    enabled: Sequence[PeriodicTask]
    all_ids: set[str]


@dataclass(frozen=True, slots=True)
class Changes:
    changed: Sequence[PeriodicTask]  # rows written since the version seen, enabled or not
    enabled_count: int  # when the schedule holds fewer or more, some row was deleted


class ScheduleChanges:
    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        self.seen: int | None = None  # the version the schedule in memory reflects

    async def version(self) -> int:
        async with self.database.session() as session:
            return await BeatRepository(session).change_version()

    async def everything(self) -> Everything:
        async with self.database.session() as session:
            repository = BeatRepository(session)
            enabled = await repository.enabled_tasks()
            all_ids = {str(i) for i in await repository.all_ids()}
        return Everything(enabled, all_ids)

    async def since(self, version: int) -> Changes:
        async with self.database.session() as session:
            repository = BeatRepository(session)
            changed = await repository.changed_since(version)
            count = await repository.enabled_count()
        return Changes(changed, count)

    async def enabled_ids(self) -> set[str]:
        async with self.database.session() as session:
            return {str(i) for i in await BeatRepository(session).enabled_ids()}
