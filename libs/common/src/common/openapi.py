"""Document every route's error responses and access level without per-route boilerplate."""

import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from common.access import ACCESS_KEY, PERMISSION_KEY, Access, route_rule
from common.errors import PROBLEM_MEDIA_TYPE, Problem

_BY_ACCESS: dict[Access, dict[int, str]] = {
    Access.PUBLIC: {},
    Access.AUTHENTICATED: {401: "Missing, invalid, expired or revoked token"},
    Access.PERMISSION: {
        401: "Missing, invalid, expired or revoked token",
        403: "The caller lacks this route's permission",
    },
    Access.ADMIN: {
        401: "Missing, invalid, expired or revoked token",
        403: "Reserved to administrators (`admin_required`)",
    },
}


_GATEWAY_400 = (
    "Refused by the gateway, without a body: a path parameter carried an encoded /, \\, "
    "NUL, ;, %, ? or #"
)


def document_routes(router: APIRouter, service: str) -> None:
    """Mark each route's access level and permission code and add its standard error responses.

    Runs on a router before it is included (FastAPI includes routers lazily).
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        rule = route_rule(service, route)
        extra = dict(route.openapi_extra or {})
        extra[ACCESS_KEY] = rule.access.value
        extra[PERMISSION_KEY] = rule.permission
        route.openapi_extra = extra
        standard = dict(_BY_ACCESS[rule.access])
        standard[500] = "Unexpected error (logged under the request id)"
        if route.path_format != "/health":  # liveness needs no dependency
            standard[503] = "A dependency is unavailable (`dependency_unavailable`, Retry-After)"
        if get_flat_params(route.dependant) or route.body_field:
            route.responses.setdefault(422, {"model": Problem, "description": "Invalid input"})
        if route.body_field:
            standard[413] = "Request body larger than MAX_REQUEST_BODY_BYTES"
        if "{" in route.path_format:
            # Traefik answers these itself, without a body, before any service sees them.
            route.responses.setdefault(400, {"description": _GATEWAY_400})
        for status, description in standard.items():
            route.responses.setdefault(status, {"model": Problem, "description": description})


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI whose error responses are served as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        openapi_version=app.openapi_version,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    # FastAPI's default validation schemas are not used by any route any more.
    schemas = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _referenced(schema, unused):
            schemas.pop(unused, None)
    app.openapi_schema = schema
    return schema


def _referenced(schema: dict[str, Any], name: str) -> bool:
    return f'"#/components/schemas/{name}"' in json.dumps(schema.get("paths", {}))


class SharedSchemas:
    """OpenAPI documents shared by apps of one shape: built once, handed out as copies.

    Every start of an app publishes its route manifest, read from its OpenAPI document; building
    that document resolves every route's models and JSON schemas (about 0.1 s of CPU for a
    service). A process that starts many apps of the same routers (the test suites start one per
    test) builds it once per shape. A shape is the values given plus the objects given, compared
    by identity: the cache holds those objects, so no other object can take their ids while
    their entry lives. Each caller gets its own copy, free to change.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[tuple[object, ...], str]] = OrderedDict()

    def get(
        self, values: tuple[Any, ...], objects: Sequence[object], make: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        key = (values, tuple(id(o) for o in objects))
        entry = self._entries.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], objects, strict=True)):
            self._entries.move_to_end(key)
            copy: dict[str, Any] = json.loads(entry[1])
            return copy
        schema = make()
        self._entries[key] = (tuple(objects), json.dumps(schema))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return schema


def router_objects(routers: Sequence[APIRouter]) -> list[object]:
    """The routers and every route in them, nested routers' included (what a shape names)."""
    found: list[object] = []
    pending: list[object] = list(routers)
    while pending:
        router = pending.pop(0)
        found.append(router)
        for route in getattr(router, "routes", ()):
            found.append(route)
            nested = getattr(route, "original_router", None)  # an included router
            if nested is not None:
                pending.append(nested)
    return found
