"""Import every task module declared under the `async_fastapi_multidb.tasks` entry-point group."""

import importlib
import logging
from importlib.metadata import entry_points

from tasks import TASKS_ENTRY_POINT_GROUP

logger = logging.getLogger("worker.task_discovery")


def discover_task_modules(group: str = TASKS_ENTRY_POINT_GROUP) -> list[str]:
    """Import the modules of `group` (their `@task` decorators register the tasks).

    A module that fails to import is logged and skipped: one broken package must not keep every
    other service's tasks from running.
    """
    loaded: list[str] = []
    for entry_point in sorted(entry_points(group=group), key=lambda ep: ep.name):
        try:
            importlib.import_module(entry_point.module)
        except Exception:
            logger.exception("could not import task module %s", entry_point.value)
            continue
        loaded.append(entry_point.module)
    return loaded
