"""`python -m scheduler.migrations`: upgrade SCHEDULER_DATABASE_URL to the newest schema."""

import asyncio
import logging

from common.logs import configure_logging
from common.settings import load_settings
from scheduler.migrations import upgrade_database
from scheduler.settings import SchedulerSettings


def main() -> None:
    settings = load_settings(SchedulerSettings)
    configure_logging("scheduler-migrations", settings.log_level, json_format=settings.log_json)
    asyncio.run(upgrade_database(settings.database_url))
    logging.getLogger("scheduler.migrations").info("scheduler schema is up to date")


if __name__ == "__main__":
    main()
