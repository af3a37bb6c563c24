from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from common.access import Access, access
from common.errors import Problem, error_responses
from common.pagination import Page, PageQueryDep
from rbac.deps import CallerDep, RoleServiceDep
from rbac.roles.errors import (
    AdminOnlyPermissionError,
    InvalidPermissionPatternError,
    PermissionNotHeldError,
    RoleExistsError,
    RoleInUseError,
    RoleNotFoundError,
    UnknownRoleError,
)
from rbac.roles.schemas import (
    EffectivePermissionsRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    UserRolesRead,
    UserRolesUpdate,
)

router = APIRouter(tags=["roles"])

RoleCodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
UserIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

# Both refusals of rbac.roles.delegation share the 403 with the route's own permission check.
DELEGATION_REFUSED: dict[int | str, dict[str, object]] = {
    403: {
        "model": Problem,
        "description": "The caller lacks this route's permission, or hands out a permission "
        f"he does not hold (`{PermissionNotHeldError.code}`) or only admins grant "
        f"(`{AdminOnlyPermissionError.code}`); the problem's `permission` member names it",
    }
}


@router.post(
    "/roles",
    status_code=status.HTTP_201_CREATED,
    summary="Create a role",
    responses=error_responses(RoleExistsError, InvalidPermissionPatternError) | DELEGATION_REFUSED,
)
async def create_role(caller: CallerDep, roles: RoleServiceDep, data: RoleCreate) -> RoleRead:
    return await roles.create(data, caller)


@router.get("/roles", summary="List roles")
async def list_roles(
    _caller: CallerDep, roles: RoleServiceDep, page: PageQueryDep
) -> Page[RoleRead]:
    return await roles.page(page)


@router.get("/roles/{code}", summary="Get a role", responses=error_responses(RoleNotFoundError))
async def get_role(_caller: CallerDep, roles: RoleServiceDep, code: RoleCodePath) -> RoleRead:
    return await roles.get(code)


@router.patch(
    "/roles/{code}",
    summary="Change a role",
    responses=error_responses(RoleNotFoundError, InvalidPermissionPatternError)
    | DELEGATION_REFUSED,
)
async def update_role(
    caller: CallerDep, roles: RoleServiceDep, code: RoleCodePath, data: RoleUpdate
) -> RoleRead:
    return await roles.update(code, data, caller)


@router.delete(
    "/roles/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a role (refused while bound to users unless forced)",
    responses=error_responses(RoleNotFoundError, RoleInUseError) | DELEGATION_REFUSED,
)
async def delete_role(
    caller: CallerDep,
    roles: RoleServiceDep,
    code: RoleCodePath,
    force: Annotated[bool, Query(description="Also unbind it from every user")] = False,
) -> None:
    await roles.delete(code, caller, force=force)


@router.put(
    "/users/{user_id}/roles",
    summary="Replace a user's roles",
    responses=error_responses(UnknownRoleError) | DELEGATION_REFUSED,
)
async def set_user_roles(
    caller: CallerDep, roles: RoleServiceDep, user_id: UserIdPath, data: UserRolesUpdate
) -> UserRolesRead:
    return await roles.set_user_roles(user_id, data, caller)


@router.get("/users/{user_id}/roles", summary="A user's roles")
async def get_user_roles(
    _caller: CallerDep, roles: RoleServiceDep, user_id: UserIdPath
) -> UserRolesRead:
    return await roles.user_roles(user_id)


@router.get("/users/{user_id}/permissions", summary="A user's effective permissions")
async def get_user_permissions(
    _caller: CallerDep, roles: RoleServiceDep, user_id: UserIdPath
) -> EffectivePermissionsRead:
    return await roles.effective_permissions(user_id, is_admin=None)


@router.get(
    "/me/permissions",
    openapi_extra=access(Access.AUTHENTICATED),
    summary="The caller's effective permissions (for showing buttons and menus)",
)
async def my_permissions(caller: CallerDep, roles: RoleServiceDep) -> EffectivePermissionsRead:
    return await roles.effective_permissions(caller.sub, is_admin=caller.adm)
