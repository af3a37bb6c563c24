"""The process entry for `celery -A worker.app worker` (and beat): the app with every task.

Importing this module builds the process's Celery app (`tasks.celery_app.process_app`), loads
the task modules of every installed package (entry-point group `async_fastapi_multidb.tasks`),
records runs in MongoDB and publishes the task catalog.
"""

import sys
from typing import Any

from celery.signals import setup_logging

from common.logs import configure_logging
from common.settings import load_settings
from tasks.celery_app import process_app
from worker.catalog_heartbeat import connect_catalog_heartbeat
from worker.run_signals import connect_run_recording
from worker.settings import WorkerSettings
from worker.task_discovery import discover_task_modules

settings = load_settings(WorkerSettings)


def _configure_logging(**_: Any) -> None:
    # Connecting this signal also stops Celery from installing its own handlers.
    name = "beat" if "beat" in sys.argv[1:] else "worker"
    configure_logging(name, settings.log_level, json_format=settings.log_json)


setup_logging.connect(_configure_logging, weak=False)
celery_app = process_app()
task_modules = discover_task_modules()
catalog_heartbeat = connect_catalog_heartbeat(celery_app, settings)
# The catalog's heartbeat is the worker's sign of life: a run is tied to it.
run_recorder = connect_run_recording(settings, catalog_heartbeat.worker_id)

app = celery_app
