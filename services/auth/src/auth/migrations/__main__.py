"""`python -m auth.migrations`: upgrade AUTH_DATABASE_URL to the newest schema (idempotent)."""

import asyncio
import logging

from auth.migrations import upgrade_database
from auth.settings import AuthSettings
from common.logs import configure_logging
from common.settings import load_settings


def main() -> None:
    settings = load_settings(AuthSettings)
    configure_logging("auth-migrations", settings.log_level, json_format=settings.log_json)
    asyncio.run(upgrade_database(settings.database_url))
    logging.getLogger("auth.migrations").info("auth schema is up to date")


if __name__ == "__main__":
    main()
