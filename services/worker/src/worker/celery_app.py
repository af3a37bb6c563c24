"""The Celery app, configured from the environment (`WorkerSettings`)."""

from celery import Celery

from common.settings import load_settings
from worker.queued_at import connect_queued_at
from worker.settings import WorkerSettings


def build_celery(settings: WorkerSettings, name: str = "worker") -> Celery:
    """A Celery app on the configured broker and result backend, JSON only, UTC."""
    app = Celery(
        name,
        broker=settings.broker_url,
        backend=settings.result_backend,
        task_cls="worker.async_task:AsyncAwareTask",
        set_as_current=False,
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        result_expires=settings.result_expires_seconds,
        result_extended=True,
        task_track_started=True,
        # One message at a time per worker process, so acks_late tasks are not hoarded.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        result_backend_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds
        },
        beat_max_loop_interval=1,
    )
    return app


settings = load_settings(WorkerSettings)
celery_app = build_celery(settings)
connect_queued_at()
