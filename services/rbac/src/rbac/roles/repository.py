"""SQL access to roles, their permission patterns and user bindings."""

from collections.abc import Sequence

from sqlalchemy import delete, func, select

from common.pagination import PageParams
from common.sql_repository import SqlRepository
from rbac.models import RolePermissionRow, RoleRow, UserRoleRow


class RoleRepository(SqlRepository):
    async def get(self, code: str) -> RoleRow | None:
        return await self.session.get(RoleRow, code)

    async def page(self, params: PageParams) -> tuple[list[RoleRow], int]:
        return await self.select_page(select(RoleRow).order_by(RoleRow.code), params)

    async def add(self, role: RoleRow) -> None:
        self.session.add(role)
        await self.session.flush()

    async def save(self, role: RoleRow) -> None:
        """Write the changes made to `role` now (its row is already in the session)."""
        await self.session.flush()

    async def delete(self, role: RoleRow) -> None:
        await self.session.execute(delete(UserRoleRow).where(UserRoleRow.role_code == role.code))
        await self.session.execute(
            delete(RolePermissionRow).where(RolePermissionRow.role_code == role.code)
        )
        await self.session.delete(role)
        await self.session.flush()

    async def permissions(self, codes: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {code: [] for code in codes}
        if not codes:
            return found
        rows = await self.session.execute(
            select(RolePermissionRow.role_code, RolePermissionRow.pattern)
            .where(RolePermissionRow.role_code.in_(codes))
            .order_by(RolePermissionRow.pattern)
        )
        for code, pattern in rows:
            found[code].append(pattern)
        return found

    async def set_permissions(self, code: str, patterns: Sequence[str]) -> None:
        await self.session.execute(
            delete(RolePermissionRow).where(RolePermissionRow.role_code == code)
        )
        self.session.add_all(RolePermissionRow(role_code=code, pattern=p) for p in patterns)
        await self.session.flush()

    async def binding_count(self, code: str) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(UserRoleRow).where(UserRoleRow.role_code == code)
        )
        return int(count or 0)

    async def existing_codes(self, codes: Sequence[str]) -> set[str]:
        if not codes:
            return set()
        return set(await self.session.scalars(select(RoleRow.code).where(RoleRow.code.in_(codes))))

    async def user_role_codes(self, user_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(UserRoleRow.role_code)
            .where(UserRoleRow.user_id == user_id)
            .order_by(UserRoleRow.role_code)
        )
        return list(rows)

    async def set_user_roles(self, user_id: str, codes: Sequence[str]) -> None:
        await self.session.execute(delete(UserRoleRow).where(UserRoleRow.user_id == user_id))
        self.session.add_all(UserRoleRow(user_id=user_id, role_code=c) for c in codes)
        await self.session.flush()

    async def user_patterns(self, user_id: str) -> frozenset[str]:
        """Every pattern granted to `user_id` through an active role."""
        rows = await self.session.scalars(
            select(RolePermissionRow.pattern)
            .join(UserRoleRow, UserRoleRow.role_code == RolePermissionRow.role_code)
            .join(RoleRow, RoleRow.code == RolePermissionRow.role_code)
            .where(UserRoleRow.user_id == user_id, RoleRow.is_active.is_(True))
        )
        return frozenset(rows)
