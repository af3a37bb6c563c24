"""Scheduler service: periodic Celery tasks in SQL and the DatabaseScheduler for beat.

Processes (docs/processes.md):
- `python -m scheduler.migrations` - Alembic upgrade of `SCHEDULER_DATABASE_URL`;
- `python -m scheduler.seed` - creates the default periodic tasks that are missing by name
  (`storage: remove stale uploads`, running `storage.cleanup_stale_uploads` every
  `SCHEDULER_STORAGE_CLEANUP_INTERVAL_SECONDS`, default 3600, and `worker: prune run history`,
  running `worker.prune_run_history` every `SCHEDULER_RUN_HISTORY_PRUNE_INTERVAL_SECONDS`,
  default 86400; 0 for none) and never changes an existing one; it writes through the API's
  repository, so beat sees the change marker move;
- `uvicorn --factory scheduler.app:create_app` - the API (`/scheduler/...` behind the gateway);
- `celery -A worker.app beat -S scheduler.beat:DatabaseScheduler` - beat.

Environment: `SCHEDULER_DATABASE_URL`, `REDIS_URL` (catalog, leader lock, last runs),
`MONGO_URL` + `SCHEDULER_MONGO_DATABASE` (run history, default `scheduler`, the same database
the worker writes: `WORKER_MONGO_DATABASE`), `CELERY_BROKER_URL` (default `REDIS_URL`), and
for beat `SCHEDULER_BEAT_LOCK_TTL_SECONDS` (10), `SCHEDULER_BEAT_CHANGE_POLL_SECONDS` (0.5),
`SCHEDULER_BEAT_SYNC_SECONDS` (5), `SCHEDULER_BEAT_MAX_INTERVAL_SECONDS` (1),
`SCHEDULER_BEAT_BATCH_SECONDS` (0.05: the shortest sleep between ticks, so what falls due
meanwhile goes out in one round trip).

Redis keys: `worker:catalog:{worker id}` and `worker:catalog-admin:{worker id}` (read),
`scheduler:beat:leader` (the lock),
`scheduler:beat:last_run` (hash: periodic task id -> last dispatch and run count).
"""
