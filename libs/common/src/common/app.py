"""The app factory every service uses: one shape for errors, logging, health, CORS and OpenAPI."""

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from common import docs_pages, health
from common.body_limit import BodyLimitMiddleware
from common.errors import install_error_handlers
from common.head import HeadAsGetMiddleware
from common.logs import configure_logging
from common.openapi import SharedSchemas, document_routes, problem_openapi, router_objects
from common.request_context import RequestContextMiddleware
from common.security import offer_password_login
from common.settings import Environment, ServiceSettings
from common.strict_input import refuse_lax_bodies


class RootPathMiddleware:
    """Serve under `/{service}` behind the gateway's StripPrefix.

    Requests arrive with or without the prefix (gateway or direct); the root path makes docs,
    `openapi.json` servers and problem `instance` fields show the public path. A path without
    the prefix gets it back, as ASGI has `path` include `root_path`: whatever Starlette builds
    from the path (the trailing-slash redirect's `Location`) then names the public path too.
    """

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("root_path"):
            path = str(scope["path"])
            if path != self.root_path and not path.startswith(self.root_path + "/"):
                path = self.root_path + path
            scope = dict(scope, root_path=self.root_path, path=path)
        await self.app(scope, receive, send)


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# The OpenAPI documents of the apps this process made, by shape (see `SharedSchemas`).
_SCHEMAS = SharedSchemas()


def _answer_no_content_bare(router: APIRouter) -> None:
    """Let a `status_code=204` route answer with a bare `Response`: FastAPI's default JSON
    response empties the body of a 204 but still labels it `application/json`.

    Runs on a router before it is included, as the included routes copy `response_class`.
    """
    for route in router.routes:
        if (
            isinstance(route, APIRoute)
            and route.status_code == HTTPStatus.NO_CONTENT
            and isinstance(route.response_class, DefaultPlaceholder)
        ):
            route.response_class = Response


def create_app[App: FastAPI = FastAPI](
    name: str,
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
    description: str = "",
    configure_logs: bool = True,
    app_class: type[App] = FastAPI,  # type: ignore[assignment]
) -> App:
    """A FastAPI app served under `/{name}` behind the gateway.

    `app_class`: a FastAPI subclass to build instead (rbac's answers `/authorize` first).

    `lifespan` owns the service's engines and clients (`common.lifespan.service_lifespan`
    builds it: it keeps them on `app.state`, adds their `/ready` checks and publishes the
    app's routes to the rbac registry).
    """
    if configure_logs:
        configure_logging(name, settings.log_level, json_format=settings.log_json)

    app = app_class(
        title=f"{name} service",
        version=version,
        description=description,
        lifespan=lifespan,
        # Served by `common.docs_pages` instead, with scripts from pinned packages, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service_name = name
    app.state.settings = settings
    app.state.ready_checks = {}
    install_error_handlers(app)
    # Innermost, so an answer still gets CORS headers, a request id and an access log line
    # naming the method the client sent.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-Id", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(RootPathMiddleware, root_path=f"/{name}")
    for router in (health.router, docs_pages.router, *routers):
        document_routes(router, name)
        refuse_lax_bodies(router)
        _answer_no_content_bare(router)
        app.include_router(router)

    is_local = settings.environment is Environment.LOCAL
    included = (health.router, docs_pages.router, *routers)
    routes_made = len(app.router.routes)

    def make_openapi() -> dict[str, Any]:
        schema = problem_openapi(app)
        # auth's password form exists only in local, so only there may the docs point at it.
        if is_local and settings.swagger_login_url:
            offer_password_login(schema, settings.swagger_login_url)
        return schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        if len(app.router.routes) != routes_made or app.webhooks.routes:
            return make_openapi()  # routes added since: not a shape this factory knows
        shape = (
            name,
            app.title,
            app.version,
            app.description,
            app.openapi_version,
            json.dumps(app.openapi_tags),
            json.dumps(app.servers),
            is_local,
            settings.swagger_login_url,
        )
        app.openapi_schema = _SCHEMAS.get(shape, router_objects(included), make_openapi)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.is_local = is_local
    return app
