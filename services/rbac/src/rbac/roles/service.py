"""Role and binding rules: patterns validated on write, roles in use kept unless forced, and a
non-admin hands out only what he holds himself (`rbac.roles.delegation`)."""

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from common.access import Access
from common.clock import utcnow
from common.pagination import Page, PageParams
from common.patch import refuse_nulls
from common.tokens import AccessClaims
from rbac.changes import ChangeKind, ChangeRecorder
from rbac.models import Role
from rbac.patterns import Grants, InvalidPatternError, validate_pattern
from rbac.registry.repository import RegistryRepository
from rbac.roles.delegation import Delegator
from rbac.roles.errors import (
    InvalidPermissionPatternError,
    RoleExistsError,
    RoleInUseError,
    RoleNotFoundError,
    UnknownRoleError,
)
from rbac.roles.repository import RoleRepository
from rbac.roles.schemas import (
    EffectivePermissionsRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    UserRolesRead,
    UserRolesUpdate,
)


def _validated(patterns: Sequence[str]) -> list[str]:
    for index, pattern in enumerate(patterns):
        try:
            validate_pattern(pattern)
        except InvalidPatternError as exc:
            raise InvalidPermissionPatternError(f"permissions.{index}", str(exc)) from exc
    return sorted(set(patterns))


class RoleService:
    def __init__(
        self, roles: RoleRepository, registry: RegistryRepository, changes: ChangeRecorder
    ) -> None:
        self.roles = roles
        self.registry = registry
        self.changes = changes

    async def delegator(self, caller: AccessClaims) -> Delegator:
        """What `caller` may hand out, read in this request's transaction."""
        if caller.adm:
            return Delegator.admin()
        return Delegator(
            is_admin=False,
            held=Grants(await self.roles.user_patterns(caller.sub)),
            admin_only=frozenset(await self.registry.admin_only_permissions()),
        )

    async def create(self, data: RoleCreate, caller: AccessClaims) -> RoleRead:
        patterns = _validated(data.permissions)
        (await self.delegator(caller)).check_grant(patterns)
        if await self.roles.get(data.code) is not None:
            raise RoleExistsError(f"role {data.code!r} already exists")
        now = utcnow()
        row = Role(
            code=data.code,
            name=data.name,
            description=data.description,
            is_active=data.is_active,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.roles.add(row)
        except IntegrityError as exc:
            raise RoleExistsError(f"role {data.code!r} already exists") from exc
        await self.roles.set_permissions(row.code, patterns)
        self.changes.record(ChangeKind.ROLES)
        return await self._role(row, patterns)

    async def get(self, code: str) -> RoleRead:
        row = await self._row(code)
        return await self._role(row, (await self.roles.permissions([code]))[code])

    async def page(self, page: PageParams) -> Page[RoleRead]:
        rows, total = await self.roles.page(page)
        permissions = await self.roles.permissions([r.code for r in rows])
        known = await self.registry.active_permissions()
        return Page(
            items=[_as_role(r, permissions[r.code], known) for r in rows],
            total=total,
        )

    async def update(self, code: str, data: RoleUpdate, caller: AccessClaims) -> RoleRead:
        row = await self._row(code)
        refuse_nulls(data.model_dump(exclude_unset=True), RoleUpdate.model_fields)
        patterns = (await self.roles.permissions([code]))[code]
        delegator = await self.delegator(caller)
        # Changing anything of a role (its name, whether it is active) changes what its users
        # are given, so the role as it stands must be within the caller's reach.
        delegator.check_role("change", code, patterns)
        if data.permissions is not None:
            patterns = _validated(data.permissions)
            delegator.check_grant(patterns)
            await self.roles.set_permissions(code, patterns)
        if data.name is not None:
            row.name = data.name
        if data.description is not None:
            row.description = data.description
        if data.is_active is not None:
            row.is_active = data.is_active
        row.updated_at = utcnow()
        await self.roles.save(row)
        self.changes.record(ChangeKind.ROLES)
        return await self._role(row, patterns)

    async def delete(self, code: str, caller: AccessClaims, *, force: bool) -> None:
        row = await self._row(code)
        patterns = (await self.roles.permissions([code]))[code]
        (await self.delegator(caller)).check_role("delete", code, patterns)
        users = await self.roles.binding_count(code)
        if users and not force:
            raise RoleInUseError(
                f"role {code!r} is bound to {users} user(s); delete with ?force=true to unbind them"
            )
        await self.roles.delete(row)
        self.changes.record(ChangeKind.ROLES)

    async def user_roles(self, user_id: str) -> UserRolesRead:
        return UserRolesRead(user_id=user_id, roles=await self.roles.user_role_codes(user_id))

    async def set_user_roles(
        self, user_id: str, data: UserRolesUpdate, caller: AccessClaims
    ) -> UserRolesRead:
        codes = sorted(set(data.roles))
        missing = sorted(set(codes) - await self.roles.existing_codes(codes))
        if missing:
            raise UnknownRoleError("roles", f"no such role: {', '.join(missing)}")
        current = set(await self.roles.user_role_codes(user_id))
        added, removed = set(codes) - current, current - set(codes)
        # Only the bindings that change are judged: a role the user keeps is not handed out again.
        delegator = await self.delegator(caller)
        permissions = await self.roles.permissions(sorted(added | removed))
        for role in sorted(added | removed):
            action = "bind" if role in added else "unbind"
            delegator.check_role(action, role, permissions[role])
        await self.roles.set_user_roles(user_id, codes)
        self.changes.record(ChangeKind.BINDINGS)
        return UserRolesRead(user_id=user_id, roles=codes)

    async def effective_permissions(
        self, user_id: str, *, is_admin: bool | None
    ) -> EffectivePermissionsRead:
        """What `user_id` may call; `is_admin` None: unknown here (admin is auth's to say), so
        only what the user's roles open is listed."""
        roles = await self.roles.user_role_codes(user_id)
        patterns = await self.roles.user_patterns(user_id)
        if is_admin:
            held = await self.registry.active_permissions(levels=(Access.PERMISSION, Access.ADMIN))
        else:
            # Admin-only routes refuse non-admins whatever their roles grant: never listed.
            known = await self.registry.active_permissions(levels=(Access.PERMISSION,))
            grants = Grants(patterns)
            held = {code for code in known if grants.allows(code)}
        return EffectivePermissionsRead(
            user_id=user_id,
            is_admin=is_admin,
            roles=roles,
            patterns=sorted(patterns),
            permissions=sorted(held),
        )

    async def _row(self, code: str) -> Role:
        row = await self.roles.get(code)
        if row is None:
            raise RoleNotFoundError(f"no role {code!r}")
        return row

    async def _role(self, row: Role, patterns: list[str]) -> RoleRead:
        return _as_role(row, patterns, await self.registry.active_permissions())


def _as_role(row: Role, patterns: list[str], known: set[str]) -> RoleRead:
    unknown = [p for p in patterns if not any(Grants([p]).allows(code) for code in known)]
    return RoleRead(
        code=row.code,
        name=row.name,
        description=row.description,
        permissions=patterns,
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        unknown_permissions=unknown,
    )
