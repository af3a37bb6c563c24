"""Alembic migrations of the scheduler's schema.

`python -m scheduler.migrations` upgrades to head.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from common.sql import SqlDatabase

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade_database(url: str) -> None:
    """Bring the schema at `url` to the newest revision (a no-op when it already is)."""
    database = SqlDatabase(url, pool_size=1)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
    finally:
        await database.dispose()
