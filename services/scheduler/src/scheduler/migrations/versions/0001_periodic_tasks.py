"""periodic tasks and the change marker

Revision ID: 0001_periodic_tasks
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_periodic_tasks"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "periodic_tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("schedule_type", sa.String(16), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("one_off", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue", sa.String(200), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(2000), nullable=False, server_default=""),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_run_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_periodic_tasks_name", "periodic_tasks", ["name"], unique=True)
    op.create_index("ix_periodic_tasks_enabled", "periodic_tasks", ["enabled"])
    changes = op.create_table(
        "schedule_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(changes.insert().values(id=1, version=0, changed_at=sa.func.current_timestamp()))


def downgrade() -> None:
    op.drop_table("schedule_changes")
    op.drop_index("ix_periodic_tasks_enabled", table_name="periodic_tasks")
    op.drop_index("ix_periodic_tasks_name", table_name="periodic_tasks")
    op.drop_table("periodic_tasks")
