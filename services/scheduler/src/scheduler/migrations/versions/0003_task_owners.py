"""periodic-task owners: every task belongs to a user or to the system; names unique per owner

Revision ID: 0003_task_owners
Revises: 0002_task_revisions
Create Date: 2026-11-30

The scheduler cannot know auth's user ids, so the rows that exist (the seeded maintenance tasks
and whatever admins created before owners existed) go to the reserved system owner, which only
admins see. The column keeps that server default, so a row written around the API is the
system's too, never a user's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_task_owners"
down_revision: str | None = "0002_task_revisions"
branch_labels: str | None = None
depends_on: str | None = None

SYSTEM_OWNER = "system"  # scheduler.models.SYSTEM_OWNER, frozen as this revision wrote it


def upgrade() -> None:
    with op.batch_alter_table("periodic_tasks") as batch:
        batch.add_column(
            sa.Column("owner_id", sa.String(64), nullable=False, server_default=SYSTEM_OWNER)
        )
    op.drop_index("ix_periodic_tasks_name", table_name="periodic_tasks")
    op.create_index(
        "ix_periodic_tasks_owner_name", "periodic_tasks", ["owner_id", "name"], unique=True
    )


def downgrade() -> None:
    # Fails while two owners share a name, rather than dropping one of the tasks.
    op.drop_index("ix_periodic_tasks_owner_name", table_name="periodic_tasks")
    op.create_index("ix_periodic_tasks_name", "periodic_tasks", ["name"], unique=True)
    with op.batch_alter_table("periodic_tasks") as batch:
        batch.drop_column("owner_id")
