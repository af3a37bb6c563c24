"""Alembic migrations of rbac's schema: `python -m rbac.migrations` upgrades to head."""

from pathlib import Path

from common import migrations

SCRIPT_LOCATION = Path(__file__).resolve().parent


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (inside the caller's event loop)."""
    await migrations.upgrade_database(SCRIPT_LOCATION, url, revision)
