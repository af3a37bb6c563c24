"""Applying manifests to the registry and building the decision's route table from it."""

import logging
import re

from sqlalchemy.exc import IntegrityError

from common.access import Access, permission_code
from common.docs_pages import DOCS_PATHS
from common.pagination import Page, PageParams
from common.route_manifest import RouteEntry, RouteManifest
from common.sql import SqlDatabase
from rbac.registry.repository import RegistryRepository
from rbac.registry.schemas import RouteRead
from rbac.route_table import RouteInfo, RouteTable

logger = logging.getLogger("rbac.registry")


SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def manifest_problem(manifest: RouteManifest, key_service: str) -> str | None:
    """Why the manifest stored under `key_service` cannot go into the registry, if it cannot."""
    if manifest.service != key_service:
        return "stored under another service's key"
    if SERVICE_NAME.fullmatch(manifest.service) is None:
        return "the service name is not a lowercase identifier"
    for route in manifest.routes:
        if route.service != manifest.service or route.method not in _METHODS:
            return f"route {route.method} {route.path[:80]!r} is malformed"
        if not route.path.startswith("/") or len(route.path) > 512 or len(route.permission) > 600:
            return f"route {route.method} {route.path[:80]!r} is malformed"
    return None


# Served outside the OpenAPI document, so no manifest lists them; every service built by
# `common.app.create_app` has them and they are public (ARCHITECTURE.md, Access levels).
DOCS_ROUTES = DOCS_PATHS


def with_docs_routes(manifest: RouteManifest) -> RouteManifest:
    listed = {(r.method, r.path) for r in manifest.routes}
    extra = [
        RouteEntry(
            service=manifest.service,
            method="GET",
            path=path,
            permission=permission_code(manifest.service, "GET", path),
            access=Access.PUBLIC,
            summary="API documentation",
        )
        for path in DOCS_ROUTES
        if ("GET", path) not in listed
    ]
    return manifest.model_copy(update={"routes": [*manifest.routes, *extra]})


async def apply_manifest(database: SqlDatabase, manifest: RouteManifest) -> bool:
    """Store `manifest` (plus the docs routes); False when it was already applied."""
    manifest = with_docs_routes(manifest)
    try:
        async with database.session() as session:
            repository = RegistryRepository(session)
            if await repository.manifest_digest(manifest.service) == manifest.digest:
                return False
            await repository.replace_service_routes(manifest)
    except IntegrityError:
        # Another rbac process applied the same manifest at the same moment.
        logger.info("manifest of %s applied concurrently", manifest.service)
        return False
    logger.info(
        "registry updated", extra={"service": manifest.service, "routes": len(manifest.routes)}
    )
    return True


async def load_route_table(database: SqlDatabase) -> RouteTable:
    async with database.session() as session:
        rows = await RegistryRepository(session).active_routes()
        return RouteTable(
            RouteInfo(
                service=row.service,
                method=row.method,
                path=row.path,
                permission=row.permission,
                access=Access(row.access),
            )
            for row in rows
        )


class RegistryService:
    def __init__(self, repository: RegistryRepository) -> None:
        self.repository = repository

    async def page(
        self, page: PageParams, *, service: str | None, include_stale: bool
    ) -> Page[RouteRead]:
        rows, total = await self.repository.page(page, service=service, include_stale=include_stale)
        return Page(items=[RouteRead.from_row(row) for row in rows], total=total)
