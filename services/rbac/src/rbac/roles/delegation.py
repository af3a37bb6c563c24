"""Who may hand out what: a non-admin delegates only what he holds himself.

Roles and bindings are how permissions reach users, so whoever manages them could otherwise
give himself (or an accomplice) anything. For a caller who is not an admin:
- every permission he puts into a role must be covered by one pattern he holds (`covers`), so a
  pattern may be narrower than or equal to his own, never broader, not even by routes that do
  not exist yet;
- `*` and the codes of admin-only routes are never his to grant, whatever he holds;
- a role he binds or unbinds (to anyone, himself included), changes or deletes must grant only
  what he could grant himself: a role broader than his own grants stays the admin's (or a
  broader manager's) to change, narrow, delete, bind or take away.
Admins are not limited.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from rbac.patterns import Grants
from rbac.roles.errors import AdminOnlyPermissionError, PermissionNotHeldError


@dataclass(frozen=True, slots=True)
class Delegator:
    """The caller as a source of grants: what he holds, and which codes are admin-only."""

    is_admin: bool
    held: Grants
    admin_only: frozenset[str]

    @classmethod
    def admin(cls) -> "Delegator":
        return cls(is_admin=True, held=Grants(()), admin_only=frozenset())

    def check_grant(self, permissions: Iterable[str]) -> None:
        """Refuse (403) unless the caller may put every one of `permissions` into a role."""
        for permission in permissions:
            refusal = self._refusal(permission)
            if refusal is not None:
                error, reason = refusal
                raise error(f"You cannot grant {permission}: {reason}.", permission=permission)

    def check_role(self, action: str, role: str, permissions: Iterable[str]) -> None:
        """Refuse (403) unless the caller may `action` ("bind", "change"...) the role `role`,
        which grants `permissions`."""
        for permission in permissions:
            refusal = self._refusal(permission)
            if refusal is not None:
                error, reason = refusal
                raise error(
                    f"You cannot {action} role {role!r}: it grants {permission} and {reason}.",
                    permission=permission,
                    role=role,
                )

    def _refusal(self, permission: str) -> tuple[type[PermissionNotHeldError], str] | None:
        if self.is_admin:
            return None
        if permission == "*" or permission in self.admin_only:
            return AdminOnlyPermissionError, "only administrators grant it"
        if not self.held.covers(permission):
            return PermissionNotHeldError, "you hold neither it nor a pattern covering it"
        return None
