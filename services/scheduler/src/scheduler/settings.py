"""Settings of the scheduler service and of beat (`SCHEDULER_` prefix)."""

from pydantic import Field

from common.settings import MongoSettings, SqlSettings, service_config


class SchedulerSettings(SqlSettings, MongoSettings):
    model_config = service_config("SCHEDULER_")

    database_url: str = "sqlite+aiosqlite:///.scheduler/scheduler.db"
    # The run history database; the worker writes it (`WORKER_MONGO_DATABASE`, same default).
    mongo_database: str = "scheduler"
    celery_broker_url: str | None = Field(None, validation_alias="CELERY_BROKER_URL")

    # Beat: the leader lock lives this long unless renewed; a standby takes over after it.
    beat_lock_ttl_seconds: float = Field(10.0, ge=1.0, le=300.0)
    # How often beat looks at the change marker (one one-row read; edits take effect within
    # about this long plus a batch window).
    beat_change_poll_seconds: float = Field(0.5, gt=0, le=60.0)
    # How often last_run_at / total_run_count are written back, in one batch.
    beat_sync_seconds: float = Field(5.0, gt=0, le=600.0)
    # Longest sleep between ticks; bounds how late a lock renewal or change check can be.
    beat_max_interval_seconds: float = Field(1.0, gt=0, le=60.0)
    # Shortest sleep between ticks while tasks keep falling due: what falls due meanwhile is
    # sent in one batch (one Redis round trip); it is also how late a send may be on that count.
    beat_batch_seconds: float = Field(0.05, ge=0, le=1.0)

    # The sweep that ends as LOST the started runs of a worker whose heartbeat stopped
    # (`scheduler.lost_run_sweep`): how often it runs, and how long a worker must have been
    # missing (longer than a heartbeat interval, so a brief Redis restart ends no run).
    lost_run_sweep_seconds: float = Field(15.0, gt=0, le=600.0)
    lost_run_grace_seconds: float = Field(30.0, ge=0, le=3600.0)
    # A run STARTED without a worker (recorded before runs were tied to a heartbeat) is ended
    # as LOST once it started this long ago: the broker's visibility timeout (a run longer than
    # that is redelivered anyway).
    lost_run_unowned_seconds: float = Field(3600.0, ge=0, le=30 * 86_400.0)

    # `scheduler.seed`: how often the default `storage.cleanup_stale_uploads` task runs when
    # the seed creates it; 0 leaves it out. An existing task keeps its own schedule.
    storage_cleanup_interval_seconds: int = Field(3600, ge=0, le=10_000_000)
    # ... and of the default `worker.prune_run_history` task (daily; the worker's
    # WORKER_RUN_HISTORY_DAYS decides what it keeps); 0 leaves it out.
    run_history_prune_interval_seconds: int = Field(86_400, ge=0, le=10_000_000)

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url
