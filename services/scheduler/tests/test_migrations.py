import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from common import migrations
from common.sql import SqlDatabase
from scheduler.migrations import MIGRATIONS_DIR, upgrade_database
from scheduler.models import SYSTEM_OWNER

BEFORE_OWNERS = "0002_task_revisions"


def _tasks_table(*more: sa.Column[object]) -> sa.Table:
    """periodic_tasks: the columns without a server default, as revision 0002 left them."""
    return sa.Table(
        "periodic_tasks",
        sa.MetaData(),
        sa.Column("id", sa.Uuid()),
        sa.Column("name", sa.String(200)),
        sa.Column("task", sa.String(200)),
        sa.Column("schedule_type", sa.String(16)),
        sa.Column("schedule", sa.JSON()),
        sa.Column("args", sa.JSON()),
        sa.Column("kwargs", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        *more,
    )


tasks_before_owners = _tasks_table()
tasks_with_owners = _tasks_table(sa.Column("owner_id", sa.String(64)))


def task_row(name: str, **more: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "name": name,
        "task": "storage.cleanup_stale_uploads",
        "schedule_type": "interval",
        "schedule": {"type": "interval", "every": 3600, "period": "seconds"},
        "args": [],
        "kwargs": {},
        "created_at": now,
        "updated_at": now,
        **more,
    }


async def test_tasks_from_before_owners_become_the_systems_and_names_become_unique_per_owner(
    sql_url: str,
) -> None:
    await migrations.upgrade_database(MIGRATIONS_DIR, sql_url, BEFORE_OWNERS)
    database = SqlDatabase(sql_url, pool_size=1)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(
                sa.insert(tasks_before_owners),
                [task_row("storage: remove stale uploads"), task_row("made by an admin")],
            )

        await upgrade_database(sql_url)

        async with database.engine.connect() as connection:
            owners = await connection.execute(
                sa.select(tasks_with_owners.c.name, tasks_with_owners.c.owner_id).order_by(
                    tasks_with_owners.c.name
                )
            )
            assert owners.all() == [
                ("made by an admin", SYSTEM_OWNER),
                ("storage: remove stale uploads", SYSTEM_OWNER),
            ]
        # Another owner may use a name the system has; the same owner may not.
        async with database.engine.begin() as connection:
            await connection.execute(
                sa.insert(tasks_with_owners),
                task_row("made by an admin", owner_id=str(uuid.uuid4())),
            )
        with pytest.raises(IntegrityError):
            async with database.engine.begin() as connection:
                await connection.execute(
                    sa.insert(tasks_with_owners),
                    task_row("made by an admin", owner_id=SYSTEM_OWNER),
                )
    finally:
        await database.dispose()


async def test_a_row_written_around_the_api_without_an_owner_is_the_systems(
    database_url: str,
) -> None:
    database = SqlDatabase(database_url, pool_size=1)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(sa.insert(tasks_before_owners), task_row("raw insert"))
        async with database.engine.connect() as connection:
            owner = await connection.scalar(sa.select(tasks_with_owners.c.owner_id))
        assert owner == SYSTEM_OWNER
    finally:
        await database.dispose()
