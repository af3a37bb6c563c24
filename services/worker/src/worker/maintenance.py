"""The worker's own housekeeping tasks (registered through the `async_fastapi_multidb.tasks`
entry point like any other package's tasks)."""

from datetime import UTC, datetime, timedelta

from common.mongo import create_mongo_client
from common.settings import load_settings
from tasks.run_history import prune_runs
from tasks.runs import TaskRun
from tasks.tasks_api import task
from worker.settings import WorkerSettings


@task("worker.prune_run_history", idempotent=True, admin_only=True)
async def prune_run_history(older_than_days: int | None = None) -> dict[str, int]:
    """Remove run-history records older than `older_than_days` (default WORKER_RUN_HISTORY_DAYS,
    30): finished runs by their end, runs that never finished by when they started or were
    queued. Returns how many records it removed."""
    settings = load_settings(WorkerSettings)
    days = older_than_days if older_than_days is not None else settings.run_history_days
    cutoff = datetime.now(UTC) - timedelta(days=max(1, days))
    # A client of its own, not Beanie's: re-initialising TaskRun here would rebind the run
    # recorder's documents to a client this task then closes.
    client = create_mongo_client(settings.mongo_url)
    try:
        collection = client[settings.mongo_database][TaskRun.Settings.name]
        return {"runs_removed": await prune_runs(collection, cutoff)}
    finally:
        await client.close()
