"""The request's dependencies: its SQL session (the only place that commits) and its caller."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from common.access import route_rule
from common.errors import ForbiddenError, ServiceUnavailableError, UnauthorizedError
from common.security import BearerCredentialsDep
from common.tokens import AccessClaims
from common.unit_of_work import AfterCommitDep, SessionDep
from rbac.changes import ChangeRecorder
from rbac.decision.authorizer import Authorizer
from rbac.registry.repository import RegistryRepository
from rbac.registry.service import RegistryService
from rbac.roles.repository import RoleRepository
from rbac.roles.service import RoleService
from rbac.route_table import RouteInfo


def get_changes(request: Request, after_commit: AfterCommitDep) -> ChangeRecorder:
    authorizer: Authorizer = request.app.state.authorizer
    return ChangeRecorder(after_commit, request.app.state.redis, authorizer.grants.invalidate)


# Announced from the session's after-commit hook, which runs before the response leaves: a
# client that sees the response can rely on the change being in force.
ChangesDep = Annotated[ChangeRecorder, Depends(get_changes)]


def get_role_service(session: SessionDep, changes: ChangesDep) -> RoleService:
    return RoleService(RoleRepository(session), RegistryRepository(session), changes)


def get_registry_service(session: SessionDep) -> RegistryService:
    return RegistryService(RegistryRepository(session))


RoleServiceDep = Annotated[RoleService, Depends(get_role_service)]
RegistryServiceDep = Annotated[RegistryService, Depends(get_registry_service)]


async def current_caller(request: Request, _credentials: BearerCredentialsDep) -> AccessClaims:
    """The caller, held to this route's own access level exactly as the gateway holds it.

    Requests that reach rbac without the gateway are refused the same way. The credentials are
    declared so that the OpenAPI asks for the bearer token; the decision reads the header
    itself, as the gateway's does.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        raise ForbiddenError("unregistered route", code="unregistered_route")
    service = request.app.state.service_name
    rule = route_rule(service, route)
    info = RouteInfo(
        service=service,
        method=rule.method,
        path=route.path_format,
        permission=rule.permission,
        access=rule.access,
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
