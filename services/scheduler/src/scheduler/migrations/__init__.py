"""Alembic migrations of scheduler's schema; `python -m scheduler.migrations` upgrades to head."""

from pathlib import Path

from common import migrations

MIGRATIONS_DIR = Path(__file__).parent


async def upgrade_database(url: str) -> None:
    """Bring the schema at `url` to the newest revision (a no-op when it already is)."""
    await migrations.upgrade_database(MIGRATIONS_DIR, url)
