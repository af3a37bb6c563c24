"""Applying manifests to the registry and building the decision's route table from it."""

import logging

from sqlalchemy.exc import IntegrityError

from common.access import Access
from common.pagination import Page, PageParams
from common.route_manifest import RouteManifest
from common.sql import SqlDatabase
from rbac.registry.repository import RegistryRepository
from rbac.registry.schemas import RegisteredRoute
from rbac.route_table import RouteInfo, RouteTable

logger = logging.getLogger("rbac.registry")


async def apply_manifest(database: SqlDatabase, manifest: RouteManifest) -> bool:
    """Store `manifest`; False when this exact manifest was already applied."""
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

    async def list_routes(
        self, page: PageParams, *, service: str | None, include_stale: bool
    ) -> Page[RegisteredRoute]:
        rows, total = await self.repository.list_routes(
            service=service, include_stale=include_stale, limit=page.limit, offset=page.offset
        )
        return Page(items=[RegisteredRoute.from_row(row) for row in rows], total=total)
