"""The request's dependencies: its SQL session (the only place that commits) and its caller."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from common.access import permission_code, route_access
from common.errors import ForbiddenError, ServiceUnavailableError, UnauthorizedError
from common.security import BearerCredentials
from common.sql import SqlDatabase
from common.tokens import AccessClaims
from rbac.changes import announce, pending_changes
from rbac.decision.authorizer import Authorizer
from rbac.registry.repository import RegistryRepository
from rbac.registry.service import RegistryService
from rbac.roles.repository import RoleRepository
from rbac.roles.service import RoleService
from rbac.route_table import RouteInfo


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: SqlDatabase = request.app.state.database
    async with database.session() as session:
        yield session
    kinds = pending_changes(session)
    if kinds:
        # This process first (no round trip), then every other rbac process.
        authorizer: Authorizer = request.app.state.authorizer
        authorizer.grants.invalidate()
        await announce(request.app.state.redis, kinds)


# "function" scope: commit and announce before the response leaves, so a client that sees the
# response can rely on the change being in force.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_role_service(session: SessionDep) -> RoleService:
    return RoleService(RoleRepository(session), RegistryRepository(session))


def get_registry_service(session: SessionDep) -> RegistryService:
    return RegistryService(RegistryRepository(session))


RoleServiceDep = Annotated[RoleService, Depends(get_role_service)]
RegistryServiceDep = Annotated[RegistryService, Depends(get_registry_service)]


async def current_caller(request: Request, _credentials: BearerCredentials) -> AccessClaims:
    """The caller, held to this route's own access level exactly as the gateway holds it.

    Requests that reach rbac without the gateway are refused the same way. The credentials are
    declared so that the OpenAPI asks for the bearer token; the decision reads the header
    itself, as the gateway's does.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        raise ForbiddenError("unregistered route", code="unregistered_route")
    method = sorted(route.methods or {"GET"})[0]
    info = RouteInfo(
        service=request.app.state.service_name,
        method=method,
        path=route.path_format,
        permission=permission_code(request.app.state.service_name, method, route.path_format),
        access=route_access(route),
    )
    authorizer: Authorizer = request.app.state.authorizer
    decision = await authorizer.check_route(info, request.headers.getlist("authorization"))
    if decision.status == 401:
        raise UnauthorizedError(decision.detail, code=decision.code)
    if decision.status == 403:
        raise ForbiddenError(decision.detail, code=decision.code)
    if decision.claims is None:
        raise ServiceUnavailableError(decision.detail, code=decision.code)
    return decision.claims


CallerDep = Annotated[AccessClaims, Depends(current_caller)]
