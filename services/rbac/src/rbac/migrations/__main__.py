"""`python -m rbac.migrations`: upgrade the database named by RBAC_DATABASE_URL to head."""

import asyncio
import logging

from common.settings import load_settings
from rbac.migrations import upgrade
from rbac.settings import RbacSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(RbacSettings)
    asyncio.run(upgrade(settings.database_url))


if __name__ == "__main__":
    main()
