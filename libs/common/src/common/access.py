"""Access levels: every route declares one, visible in its OpenAPI as `x-access`.

    @router.get("/health", openapi_extra=access(Access.PUBLIC))
    @router.get("/me", openapi_extra=access(Access.AUTHENTICATED))
    @router.post("/uploads")              # no marker: Access.PERMISSION, the default
    @router.get("/buckets")               # Access.ADMIN, as the route depends on `AdminUserDep`:
    async def buckets(_admin: AdminUserDep) -> ...

The rbac registry reads `x-access` from each service's OpenAPI; the gateway decision follows it.
Admin-only access has no marker of its own: the `AdminUserDep` dependency that enforces it declares
it, so the two cannot disagree.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from common.security import admin_user

ACCESS_KEY = "x-access"
PERMISSION_KEY = "x-permission"


class Access(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    PERMISSION = "permission"
    # Administrators only, whatever their roles grant (a route depending on `AdminUserDep`).
    ADMIN = "admin"


def access(level: Access, **openapi_extra: Any) -> dict[str, Any]:
    """The `openapi_extra` that marks a route with its access level."""
    if level is Access.ADMIN:
        # A marker alone would let the gateway refuse while the service itself let anyone in.
        raise ValueError("an admin-only route depends on AdminUserDep instead of a marker")
    return {ACCESS_KEY: level.value, **openapi_extra}


def route_access(route: APIRoute) -> Access:
    """`ADMIN` for a route depending on `AdminUserDep`, else its marker (`PERMISSION` if none)."""
    if _requires_admin(route.dependant):
        return Access.ADMIN
    extra = route.openapi_extra or {}
    return Access(extra.get(ACCESS_KEY, Access.PERMISSION.value))


def _requires_admin(dependant: Dependant) -> bool:
    return any(sub.call is admin_user or _requires_admin(sub) for sub in dependant.dependencies)


def permission_code(service: str, method: str, path_template: str) -> str:
    """`{service}:{METHOD}:{path template}`, e.g. `storage:POST:/uploads`."""
    return f"{service}:{method.upper()}:{path_template}"


@dataclass(frozen=True, slots=True)
class RouteRule:
    """What the OpenAPI says of a route, and the registry and the gateway hold it to."""

    method: str
    permission: str
    access: Access


def route_rule(service: str, route: APIRoute) -> RouteRule:
    """The rule of `route` in `service`: its method (the first, for a route serving several),
    permission code and access level."""
    method = sorted(route.methods or {"GET"})[0]
    return RouteRule(
        method, permission_code(service, method, route.path_format), route_access(route)
    )
