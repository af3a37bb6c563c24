"""rbac's own tables: the route registry, roles with their permission patterns, user bindings."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.sql import UtcDateTime


class Base(DeclarativeBase):
    pass


class ServiceManifestRow(Base):
    """The last manifest applied per service, so republishing the same one is a no-op."""

    __tablename__ = "rbac_services"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RouteRow(Base):
    __tablename__ = "rbac_routes"
    __table_args__ = (UniqueConstraint("service", "method", "path", name="uq_rbac_routes_route"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(512))
    permission: Mapped[str] = mapped_column(String(600))
    access: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    # A route missing from its service's newest manifest: listed, never matched or granted.
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RoleRow(Base):
    __tablename__ = "rbac_roles"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RolePermissionRow(Base):
    __tablename__ = "rbac_role_permissions"

    role_code: Mapped[str] = mapped_column(
        String(64), ForeignKey("rbac_roles.code", ondelete="CASCADE"), primary_key=True
    )
    pattern: Mapped[str] = mapped_column(String(600), primary_key=True)


class UserRoleRow(Base):
    __tablename__ = "rbac_user_roles"
    __table_args__ = (Index("ix_rbac_user_roles_role_code", "role_code"),)

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_code: Mapped[str] = mapped_column(
        String(64), ForeignKey("rbac_roles.code", ondelete="CASCADE"), primary_key=True
    )
