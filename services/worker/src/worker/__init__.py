"""The Celery worker process: the app with every installed task, run recording, the catalog's
heartbeat and the platform's housekeeping tasks.

Tasks are written with the task SDK (`libs/tasks`, `tasks.tasks_api.task`) and contributed by
any package under the entry-point group `async_fastapi_multidb.tasks`
(`tasks.TASKS_ENTRY_POINT_GROUP`); every process that loads `worker.app` (the worker, beat)
imports each module of the group, so the tasks are registered.

Commands: `celery -A worker.app worker` and `celery -A worker.app beat -S
scheduler.beat:DatabaseScheduler`. Environment: `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND`
(default `REDIS_URL`), `MONGO_URL` for run history, `WORKER_MONGO_DATABASE` (default
`scheduler`), and `WORKER_RUN_HISTORY_DAYS` (default 30), what `worker.prune_run_history` keeps.
"""
