"""SQL access to the registry tables."""

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlmodel import col

from common.access import Access
from common.clock import utcnow
from common.pagination import PageParams
from common.route_manifest import RouteManifest
from common.sql_repository import SqlRepository
from rbac.models import Route, ServiceManifest


class RegistryRepository(SqlRepository):
    async def manifest_digest(self, service: str) -> str | None:
        row = await self.session.get(ServiceManifest, service)
        return row.digest if row is not None else None

    async def replace_service_routes(self, manifest: RouteManifest) -> None:
        """Upsert every route of the manifest; routes it no longer lists become stale."""
        now = utcnow()
        existing = {
            (row.method, row.path): row
            for row in await self.session.scalars(
                select(Route).where(col(Route.service) == manifest.service)
            )
        }
        for entry in manifest.routes:
            row = existing.pop((entry.method, entry.path), None)
            if row is None:
                row = Route(
                    service=manifest.service,
                    method=entry.method,
                    path=entry.path,
                    permission=entry.permission,
                    access=entry.access.value,
                    updated_at=now,
                )
                self.session.add(row)
            row.permission = entry.permission
            row.access = entry.access.value
            row.summary = entry.summary
            row.stale = False
            row.updated_at = now
        for row in existing.values():
            if not row.stale:
                row.stale = True
                row.updated_at = now
        service_row = await self.session.get(ServiceManifest, manifest.service)
        if service_row is None:
            service_row = ServiceManifest(
                service=manifest.service,
                digest=manifest.digest,
                published_at=manifest.published_at,
                updated_at=now,
            )
            self.session.add(service_row)
        service_row.digest = manifest.digest
        service_row.published_at = manifest.published_at
        service_row.updated_at = now
        await self.session.flush()

    async def active_routes(self) -> Sequence[Route]:
        return (await self.session.scalars(select(Route).where(col(Route.stale).is_(False)))).all()

    async def page(
        self, params: PageParams, *, service: str | None, include_stale: bool
    ) -> tuple[list[Route], int]:
        query = select(Route)
        if service is not None:
            query = query.where(col(Route.service) == service)
        if not include_stale:
            query = query.where(col(Route.stale).is_(False))
        ordered = query.order_by(col(Route.service), col(Route.path), col(Route.method))
        return await self.select_page(ordered, params)

    async def active_permissions(self, *, levels: Collection[Access] | None = None) -> set[str]:
        """Permission codes of live routes; `levels`: only routes of those access levels."""
        query = select(col(Route.permission)).where(col(Route.stale).is_(False))
        if levels is not None:
            query = query.where(col(Route.access).in_([level.value for level in levels]))
        return set(await self.session.scalars(query))

    async def admin_only_permissions(self) -> set[str]:
        """Codes of admin-only routes, stale ones too (their service may serve them again)."""
        query = select(col(Route.permission)).where(col(Route.access) == Access.ADMIN.value)
        return set(await self.session.scalars(query))
