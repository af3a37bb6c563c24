"""Access levels: every route declares one, visible in its OpenAPI as `x-access`.

    @router.get("/health", openapi_extra=access(Access.PUBLIC))
    @router.get("/me", openapi_extra=access(Access.AUTHENTICATED))
    @router.post("/uploads")              # no marker: Access.PERMISSION, the default

The rbac registry reads `x-access` from each service's OpenAPI; the gateway decision follows it.
"""

from enum import StrEnum
from typing import Any

from fastapi.routing import APIRoute

ACCESS_KEY = "x-access"
PERMISSION_KEY = "x-permission"


class Access(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    PERMISSION = "permission"


def access(level: Access, **openapi_extra: Any) -> dict[str, Any]:
    """The `openapi_extra` that marks a route with its access level."""
    return {ACCESS_KEY: level.value, **openapi_extra}


def route_access(route: APIRoute) -> Access:
    extra = route.openapi_extra or {}
    return Access(extra.get(ACCESS_KEY, Access.PERMISSION.value))


def permission_code(service: str, method: str, path_template: str) -> str:
    """`{service}:{METHOD}:{path template}`, e.g. `storage:POST:/uploads`."""
    return f"{service}:{method.upper()}:{path_template}"
