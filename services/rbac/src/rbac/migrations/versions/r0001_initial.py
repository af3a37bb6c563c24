"""Route registry, roles, role permissions and user bindings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rbac_services",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("published_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "rbac_routes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("permission", sa.String(600), nullable=False),
        sa.Column("access", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("stale", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("service", "method", "path", name="uq_rbac_routes_route"),
    )
    op.create_table(
        "rbac_roles",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "rbac_role_permissions",
        sa.Column(
            "role_code",
            sa.String(64),
            sa.ForeignKey("rbac_roles.code", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("pattern", sa.String(600), primary_key=True),
    )
    op.create_table(
        "rbac_user_roles",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column(
            "role_code",
            sa.String(64),
            sa.ForeignKey("rbac_roles.code", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_rbac_user_roles_role_code", "rbac_user_roles", ["role_code"])


def downgrade() -> None:
    op.drop_index("ix_rbac_user_roles_role_code", table_name="rbac_user_roles")
    op.drop_table("rbac_user_roles")
    op.drop_table("rbac_role_permissions")
    op.drop_table("rbac_roles")
    op.drop_table("rbac_routes")
    op.drop_table("rbac_services")
