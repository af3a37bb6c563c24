"""SQL access to roles, their permission patterns and user bindings."""

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlmodel import col

from common.pagination import PageParams
from common.sql_repository import SqlRepository
from rbac.models import Role, RolePermission, UserRole


class RoleRepository(SqlRepository):
    async def get(self, code: str) -> Role | None:
        return await self.session.get(Role, code)

    async def page(self, params: PageParams) -> tuple[list[Role], int]:
        return await self.select_page(select(Role).order_by(col(Role.code)), params)

    async def add(self, role: Role) -> None:
        self.session.add(role)
        await self.session.flush()

    async def save(self, role: Role) -> None:
        """Write the changes made to `role` now (its row is already in the session)."""
        await self.session.flush()

    async def delete(self, role: Role) -> None:
        await self.session.execute(delete(UserRole).where(col(UserRole.role_code) == role.code))
        await self.session.execute(
            delete(RolePermission).where(col(RolePermission.role_code) == role.code)
        )
        await self.session.delete(role)
        await self.session.flush()

    async def permissions(self, codes: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {code: [] for code in codes}
        if not codes:
            return found
        rows = await self.session.execute(
            select(col(RolePermission.role_code), col(RolePermission.pattern))
            .where(col(RolePermission.role_code).in_(codes))
            .order_by(col(RolePermission.pattern))
        )
        for code, pattern in rows:
            found[code].append(pattern)
        return found

    async def set_permissions(self, code: str, patterns: Sequence[str]) -> None:
        await self.session.execute(
            delete(RolePermission).where(col(RolePermission.role_code) == code)
        )
        self.session.add_all(RolePermission(role_code=code, pattern=p) for p in patterns)
        await self.session.flush()

    async def binding_count(self, code: str) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(UserRole).where(col(UserRole.role_code) == code)
        )
        return int(count or 0)

    async def existing_codes(self, codes: Sequence[str]) -> set[str]:
        if not codes:
            return set()
        return set(
            await self.session.scalars(select(col(Role.code)).where(col(Role.code).in_(codes)))
        )

    async def user_role_codes(self, user_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(col(UserRole.role_code))
            .where(col(UserRole.user_id) == user_id)
            .order_by(col(UserRole.role_code))
        )
        return list(rows)

    async def set_user_roles(self, user_id: str, codes: Sequence[str]) -> None:
        await self.session.execute(delete(UserRole).where(col(UserRole.user_id) == user_id))
        self.session.add_all(UserRole(user_id=user_id, role_code=c) for c in codes)
        await self.session.flush()

    async def user_patterns(self, user_id: str) -> frozenset[str]:
        """Every pattern granted to `user_id` through an active role."""
        rows = await self.session.scalars(
            select(col(RolePermission.pattern))
            .join(UserRole, col(UserRole.role_code) == col(RolePermission.role_code))
            .join(Role, col(Role.code) == col(RolePermission.role_code))
            .where(col(UserRole.user_id) == user_id, col(Role.is_active).is_(True))
        )
        return frozenset(rows)
