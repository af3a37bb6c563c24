"""Alembic on the service's async engine: every SQL service's `python -m <svc>.migrations`.

Each service keeps its revisions in `<svc>/migrations/versions` and an `env.py` that runs on the
connection handed over here (`run_on_connection`), so the same code upgrades SQLite and
PostgreSQL and needs no `alembic.ini`.
"""

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection

from common.logs import configure_logging
from common.settings import ServiceSettings, load_settings
from common.sql import SqlDatabase


def alembic_config(script_location: Path, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


async def upgrade_database(script_location: Path, url: str, revision: str = "head") -> None:
    """Bring the schema at `url` to `revision` (a no-op when it already is)."""
    database = SqlDatabase(url, pool_size=1)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.upgrade(alembic_config(script_location, sync), revision)
            )
    finally:
        await database.dispose()


def run_on_connection(service: str, target_metadata: Any = None) -> None:
    """The body of a service's `env.py`: migrate on the connection `upgrade_database` opened."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(f"run {service} migrations with `python -m {service}.migrations`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def migrate_from_environment(
    service: str, settings_class: type[ServiceSettings], script_location: Path
) -> None:
    """`python -m <service>.migrations`: settings from the environment, upgrade to head."""
    settings = load_settings(settings_class)
    configure_logging(f"{service}-migrations", settings.log_level, json_format=settings.log_json)
    url: str = getattr(settings, "database_url")  # noqa: B009 - every SQL service names it so
    asyncio.run(upgrade_database(script_location, url))
    logging.getLogger(f"{service}.migrations").info("%s schema is up to date", service)
