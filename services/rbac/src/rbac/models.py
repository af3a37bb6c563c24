"""rbac's own tables: the route registry, roles with their permission patterns, user bindings."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from common.sql import UtcDateTime

# Every table of rbac's schema (`SQLModel.metadata` also holds any other service's imported).
TABLES = (
    "rbac_services",
    "rbac_routes",
    "rbac_roles",
    "rbac_role_permissions",
    "rbac_user_roles",
)


class ServiceManifest(SQLModel, table=True):
    """The last manifest applied per service, so republishing the same one is a no-op."""

    __tablename__ = "rbac_services"

    service: str = Field(max_length=64, primary_key=True)
    digest: str = Field(max_length=64)
    published_at: float
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Route(SQLModel, table=True):
    __tablename__ = "rbac_routes"
    __table_args__ = (UniqueConstraint("service", "method", "path", name="uq_rbac_routes_route"),)

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=64)
    method: str = Field(max_length=16)
    path: str = Field(max_length=512)
    permission: str = Field(default="", max_length=600)
    access: str = Field(default="", max_length=16)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    # A route missing from its service's newest manifest: listed, never matched or granted.
    stale: bool = False
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Role(SQLModel, table=True):
    __tablename__ = "rbac_roles"

    code: str = Field(max_length=64, primary_key=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    is_active: bool = True
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class RolePermission(SQLModel, table=True):
    __tablename__ = "rbac_role_permissions"

    role_code: str = Field(
        sa_column=Column(
            String(64), ForeignKey("rbac_roles.code", ondelete="CASCADE"), primary_key=True
        )
    )
    pattern: str = Field(max_length=600, primary_key=True)


class UserRole(SQLModel, table=True):
    __tablename__ = "rbac_user_roles"
    __table_args__ = (Index("ix_rbac_user_roles_role_code", "role_code"),)

    user_id: str = Field(max_length=64, primary_key=True)
    role_code: str = Field(
        sa_column=Column(
            String(64), ForeignKey("rbac_roles.code", ondelete="CASCADE"), primary_key=True
        )
    )
