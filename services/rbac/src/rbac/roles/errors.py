from common.errors import ConflictError, InvalidInputError, NotFoundError


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
