"""The methods a path is served with, for the `Allow` header of a 405.

Starlette answers a 405 from the first route whose path matches, so its `Allow` names only that
route's methods, although `GET /items` and `POST /items` are two routes of one resource. RFC 9110
§15.5.6 asks for every method the resource supports.
"""

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from common.head import routed_as

# RFC 9110 §9 and PATCH (RFC 5789), in the order `Allow` lists them. A route declaring a method
# outside this list would not be named; none of ours does.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method for which `routes` would hand the request's path to an endpoint.

    The request is routed again once per method with the router's own matching, so path
    parameters, their convertors, router prefixes and the root path count exactly as they do
    when serving; HEAD is routed as GET, as `HeadAsGetMiddleware` serves it. Meant for the 405
    path only: it costs a routing pass per method.
    """
    probe: dict[str, Any] = {
        "type": "http",
        "path": scope["path"],
        # A Mount lengthens root_path while routing; this routing starts again from the top.
        "root_path": scope.get("app_root_path", scope.get("root_path", "")),
        "headers": scope.get("headers", []),
    }
    return [
        method
        for method in HTTP_METHODS
        if _dispatches(routes, {**probe, "method": routed_as(method)})
    ]


def _dispatches(routes: Sequence[BaseRoute], scope: Scope) -> bool:
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            # A Mount matches whatever the method; the routes behind it decide, and the router
            # never falls back past the first full match.
            if isinstance(route, Mount) and route.routes:
                return _dispatches(route.routes, {**scope, **child_scope})
            return True
    return False
