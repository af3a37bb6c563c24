"""What a process needs to send and run tasks: the broker, the result backend and their timing.

The worker's settings extend these (`worker.settings.WorkerSettings`), so one environment
configures the worker and every other process sending tasks alike.
"""

from pydantic import Field

from common.settings import ServiceSettings, service_config


class TaskSettings(ServiceSettings):
    model_config = service_config("WORKER_")

    celery_broker_url: str | None = Field(None, validation_alias="CELERY_BROKER_URL")
    celery_result_backend: str | None = Field(None, validation_alias="CELERY_RESULT_BACKEND")
    result_expires_seconds: int = 86_400
    # Redis redelivers an unacknowledged (acks_late) message after this long.
    visibility_timeout_seconds: int = 3_600

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url

    @property
    def result_backend(self) -> str:
        return self.celery_result_backend or self.redis_url
