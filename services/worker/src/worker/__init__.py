"""Celery worker with native `async def` tasks and a typed task API.

Services contribute tasks without the worker importing them by hand: a package declares its task
modules under the entry-point group `async_fastapi_multidb.tasks` in its `pyproject.toml`,

    [project.entry-points."async_fastapi_multidb.tasks"]
    storage = "storage.tasks"

and defines each task with `worker.tasks_api.task`:

    from worker.tasks_api import task

    @task("storage.cleanup_stale_uploads", idempotent=True, admin_only=True)
    async def cleanup_stale_uploads(older_than_hours: int = 24) -> int:
        ...

Every process that loads `worker.app` (the worker, beat) imports each module of the group, so the
tasks are registered. Calling keeps the function's types: `cleanup_stale_uploads.delay(12)` is a
`TaskResult[int]`, and `cleanup_stale_uploads.options(queue="io").delay(12)` sets message options.

Commands: `celery -A worker.app worker` and `celery -A worker.app beat -S
scheduler.beat:DatabaseScheduler`. Environment: `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND`
(default `REDIS_URL`), `MONGO_URL` for run history, `WORKER_MONGO_DATABASE` (default
`scheduler`), and `WORKER_RUN_HISTORY_DAYS` (default 30), what `worker.prune_run_history` keeps.
"""

TASKS_ENTRY_POINT_GROUP = "async_fastapi_multidb.tasks"
