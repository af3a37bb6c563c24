"""The process entry for `celery -A worker.app worker` (and beat): the app with every task.

Importing this module loads the task modules of every installed package (entry-point group
`async_fastapi_multidb.tasks`), records runs in MongoDB and publishes the task catalog.
"""

import sys
from typing import Any

from celery.signals import setup_logging

from common.logs import configure_logging
from worker.catalog_heartbeat import connect_catalog_heartbeat
from worker.celery_app import celery_app, settings
from worker.run_signals import connect_run_recording
from worker.task_discovery import discover_task_modules


def _configure_logging(**_: Any) -> None:
    # Connecting this signal also stops Celery from installing its own handlers.
    name = "beat" if "beat" in sys.argv[1:] else "worker"
    configure_logging(name, settings.log_level, json_format=settings.log_json)


setup_logging.connect(_configure_logging, weak=False)
task_modules = discover_task_modules()
catalog_heartbeat = connect_catalog_heartbeat(celery_app, settings)
# The catalog's heartbeat is the worker's sign of life: a run is tied to it.
run_recorder = connect_run_recording(settings, catalog_heartbeat.worker_id)

app = celery_app
