"""Worker settings: the broker and result backend (`tasks.settings.TaskSettings`) and where run
history goes."""

from pydantic import Field

from common.settings import MongoSettings, service_config
from tasks.settings import TaskSettings


class WorkerSettings(TaskSettings, MongoSettings):
    model_config = service_config("WORKER_")

    mongo_database: str = "scheduler"
    record_runs: bool = True
    catalog_ttl_seconds: int = 60
    # Run records are buffered and written in one batch at least this often (and at shutdown):
    # a killed worker loses at most this much of the history.
    run_history_flush_seconds: float = Field(1.0, gt=0, le=3600)
    # `worker.prune_run_history` removes runs older than this (the scheduler seeds it daily).
    run_history_days: int = Field(30, ge=1, le=36_500)
