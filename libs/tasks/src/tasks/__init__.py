"""The task SDK: define, send and describe tasks without running a worker.

Services contribute tasks without the worker importing them by hand: a package declares its task
modules under the entry-point group `async_fastapi_multidb.tasks` in its `pyproject.toml`,

    [project.entry-points."async_fastapi_multidb.tasks"]
    storage = "storage.tasks"

and defines each task with `tasks.tasks_api.task`:

    from tasks.tasks_api import task

    @task("storage.cleanup_stale_uploads", idempotent=True, admin_only=True)
    async def cleanup_stale_uploads(older_than_hours: int = 24) -> int:
        ...

The worker process (`services/worker`, `celery -A worker.app worker`) imports each module of the
group, so the tasks are registered. Calling keeps the function's types:
`cleanup_stale_uploads.delay(12)` is a `TaskResult[int]`, and
`cleanup_stale_uploads.options(queue="io").delay(12)` sets message options.

Importing this package or a task module reads no settings and builds no Celery app: the
process's app (`tasks.celery_app.process_app`) is built on first use, from `TaskSettings`
(`CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND`, default `REDIS_URL`).

Beside the typed task API the SDK holds what the worker and the scheduler share: the task
catalog (`tasks.catalog`), the run model and its store (`tasks.runs`, `tasks.run_history`), run
events (`tasks.run_events`), the sweep of runs whose worker died (`tasks.lost_runs`) and the
process's long-lived event loop (`tasks.event_loop`).
"""

TASKS_ENTRY_POINT_GROUP = "async_fastapi_multidb.tasks"
