from common.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


class RoleNotFoundError(NotFoundError):
    code = "role_not_found"
    title = "Role not found"


class RoleExistsError(ConflictError):
    code = "role_exists"
    title = "Role already exists"


class RoleInUseError(ConflictError):
    code = "role_in_use"
    title = "Role in use"


class InvalidPermissionPatternError(InvalidInputError):
    code = "invalid_permission_pattern"
    title = "Invalid permission pattern"


class UnknownRoleError(InvalidInputError):
    code = "unknown_role"
    title = "Unknown role"


class PermissionNotHeldError(ForbiddenError):
    """A non-admin tried to hand out (or take away) a permission he does not hold himself."""

    code = "permission_not_held"
    title = "Permission not held"

    def __init__(self, detail: str, *, permission: str, role: str | None = None) -> None:
        super().__init__(detail)
        self.extensions = {"permission": permission, **({"role": role} if role else {})}


class AdminOnlyPermissionError(PermissionNotHeldError):
    """`*` or an admin-only route's code: only administrators grant or bind it."""

    code = "admin_only_permission"
    title = "Permission reserved to administrators"
