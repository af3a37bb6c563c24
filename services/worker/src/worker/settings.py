"""Worker settings: the broker, the result backend and where run history goes."""

from pydantic import Field

from common.settings import ServiceSettings, service_config


class WorkerSettings(ServiceSettings):
    model_config = service_config("WORKER_")

    celery_broker_url: str | None = Field(None, validation_alias="CELERY_BROKER_URL")
    celery_result_backend: str | None = Field(None, validation_alias="CELERY_RESULT_BACKEND")
    mongo_url: str = Field("mongodb://127.0.0.1:27017", validation_alias="MONGO_URL")
    mongo_database: str = "scheduler"
    record_runs: bool = True
    result_expires_seconds: int = 86_400
    # Redis redelivers an unacknowledged (acks_late) message after this long.
    visibility_timeout_seconds: int = 3_600
    catalog_ttl_seconds: int = 60
    # Run records are buffered and written in one batch at least this often (and at shutdown):
    # a killed worker loses at most this much of the history.
    run_history_flush_seconds: float = Field(1.0, gt=0, le=3600)
    # `worker.prune_run_history` removes runs older than this (the scheduler seeds it daily).
    run_history_days: int = Field(30, ge=1, le=36_500)

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def result_backend(self) -> str:
        return self.celery_result_backend or self.redis_url
