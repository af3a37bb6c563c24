"""`python -m scheduler.seed`: make sure the platform's default periodic tasks exist (idempotent).

The defaults (`default_tasks`):
- `storage: remove stale uploads` runs `storage.cleanup_stale_uploads` every
  SCHEDULER_STORAGE_CLEANUP_INTERVAL_SECONDS (3600; 0 leaves it out);
- `worker: prune run history` runs `worker.prune_run_history` every
  SCHEDULER_RUN_HISTORY_PRUNE_INTERVAL_SECONDS (86400; 0 leaves it out), so the run history keeps
  WORKER_RUN_HISTORY_DAYS (30) of runs instead of growing for ever.

The defaults belong to SYSTEM_OWNER: admins see and change them, other users never see them.
A default is matched by name among the system's tasks. A missing one is created through the
repository the API writes with, so the change marker moves and a running beat loads it; an
existing one is left exactly as it is (enabled flag, schedule, arguments), whatever an operator
changed. A deleted default comes back on the next seed: disable it instead, or set its interval
to 0.

The workers' task catalog is not consulted, since no worker needs to be up yet: beat holds back
a task that live workers have not registered and sends it once one has (with no live worker at
all it sends anyway and the broker keeps the message).
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from common.logs import configure_logging
from common.settings import load_settings
from common.sql import SqlDatabase
from scheduler.models import SYSTEM_OWNER
from scheduler.repository import PeriodicTaskRepository
from scheduler.schedule_specs import IntervalSpec
from scheduler.schemas import PeriodicTaskCreate
from scheduler.service import new_periodic_task
from scheduler.settings import SchedulerSettings

logger = logging.getLogger("scheduler.seed")

STORAGE_CLEANUP_NAME = "storage: remove stale uploads"
STORAGE_CLEANUP_TASK = "storage.cleanup_stale_uploads"
RUN_HISTORY_PRUNE_NAME = "worker: prune run history"
RUN_HISTORY_PRUNE_TASK = "worker.prune_run_history"


@dataclass(frozen=True)
class _Default:
    name: str
    task: str
    interval_setting: str  # a SchedulerSettings field; 0 leaves the task out
    description: str


_DEFAULTS = (
    _Default(
        STORAGE_CLEANUP_NAME,
        STORAGE_CLEANUP_TASK,
        "storage_cleanup_interval_seconds",
        "Removes uploads never completed: pending files whose upload URLs have expired, "
        "orphaned multipart uploads and objects without metadata.",
    ),
    _Default(
        RUN_HISTORY_PRUNE_NAME,
        RUN_HISTORY_PRUNE_TASK,
        "run_history_prune_interval_seconds",
        "Removes run-history records older than the worker's WORKER_RUN_HISTORY_DAYS.",
    ),
)


def _interval(settings: SchedulerSettings, default: _Default) -> int:
    seconds: int = getattr(settings, default.interval_setting)
    return seconds


def default_tasks(settings: SchedulerSettings) -> list[PeriodicTaskCreate]:
    """The periodic tasks every deployment starts with, as these settings shape them."""
    return [
        PeriodicTaskCreate(
            name=default.name,
            task=default.task,
            schedule=IntervalSpec(
                type="interval", every=_interval(settings, default), period="seconds"
            ),
            description=default.description,
        )
        for default in _DEFAULTS
        if _interval(settings, default) > 0
    ]


async def seed_defaults(settings: SchedulerSettings) -> dict[str, str]:
    """Create each missing default; returns each default's name with `created` or `exists`."""
    database = SqlDatabase(settings.database_url, pool_size=1)
    try:
        return {data.name: await _ensure(database, data) for data in default_tasks(settings)}
    finally:
        await database.dispose()


async def _ensure(database: SqlDatabase, data: PeriodicTaskCreate) -> str:
    try:
        async with database.session() as session:
            repository = PeriodicTaskRepository(session)
            if await repository.name_taken(SYSTEM_OWNER, data.name):
                return "exists"
            await repository.add(new_periodic_task(data, owner_id=SYSTEM_OWNER))
            return "created"
    except IntegrityError:
        # Another seed (or an operator) created it between our check and our insert.
        async with database.session() as session:
            if await PeriodicTaskRepository(session).name_taken(SYSTEM_OWNER, data.name):
                return "exists"
        raise


def main() -> None:
    settings = load_settings(SchedulerSettings)
    configure_logging("scheduler-seed", settings.log_level, json_format=settings.log_json)
    outcomes = asyncio.run(seed_defaults(settings))
    for name, outcome in outcomes.items():
        logger.info("default periodic task %r %s", name, outcome, extra={"periodic_task": name})
    for default in _DEFAULTS:
        if _interval(settings, default) == 0:
            logger.info(
                "default periodic task %r not seeded: SCHEDULER_%s=0",
                default.name,
                default.interval_setting.upper(),
            )


if __name__ == "__main__":
    main()
