"""per-task revision: the change-marker version of its last write

Revision ID: 0002_task_revisions
Revises: 0001_periodic_tasks
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_task_revisions"
down_revision: str | None = "0001_periodic_tasks"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("periodic_tasks") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_periodic_tasks_revision", "periodic_tasks", ["revision"])


def downgrade() -> None:
    op.drop_index("ix_periodic_tasks_revision", table_name="periodic_tasks")
    with op.batch_alter_table("periodic_tasks") as batch:
        batch.drop_column("revision")
