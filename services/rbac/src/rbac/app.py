"""`create_app()`: the rbac service, a FastAPI app that answers `/authorize` before its API."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.types import Receive, Scope, Send

from common.app import create_app as create_service_app
from common.docs_portal import router as docs_portal_router
from common.health import register_ready_check
from common.lifespan import Resources, service_lifespan
from common.redis_client import create_redis
from common.route_manifest import build_manifest
from common.security import token_verifier
from common.settings import load_settings
from common.sql import SqlDatabase
from common.tokens import JwksClient, KeySource
from rbac.decision.authorizer import Authorizer
from rbac.decision.endpoint import AUTHORIZE_PATH, AuthorizeEndpoint
from rbac.decision.grants_cache import GrantsCache
from rbac.decision.listener import ChangeListener
from rbac.decision.revocation_cache import RevocationCache
from rbac.registry.api import router as registry_router
from rbac.registry.service import apply_manifest, load_route_table
from rbac.roles.api import router as roles_router
from rbac.roles.repository import RoleRepository
from rbac.settings import RbacSettings

SERVICE = "rbac"
# Start-up waits this long for pub/sub so the first decisions are served from warm caches;
# past it the service starts anyway and decides through Redis lookups (or denies).
CONNECT_WAIT_SECONDS = 5.0

logger = logging.getLogger("rbac.app")


def create_app(
    settings: RbacSettings | None = None,
    *,
    keys: KeySource | None = None,
    configure_logs: bool = True,
) -> "RbacApi":
    """The rbac app; `keys` replaces auth's JWKS (tests sign their own tokens)."""
    settings = settings or load_settings(RbacSettings)
    # Built before the lifespan: the decision endpoint holds them from the first request on.
    database = SqlDatabase(settings.database_url, pool_size=settings.sql_pool_size)
    redis: Redis = create_redis(settings.redis_url)
    verifier = token_verifier(settings, keys or JwksClient(str(settings.jwks_url)))

    async def load_grants(user_id: str) -> frozenset[str]:
        async with database.session() as session:
            return await RoleRepository(session).user_patterns(user_id)

    authorizer = Authorizer(
        verifier=verifier,
        revocations=RevocationCache(redis, ttl=settings.cache_ttl_seconds),
        grants=GrantsCache(load_grants, ttl=settings.cache_ttl_seconds),
        tickets=redis,
    )
    listener = ChangeListener(
        redis, database, authorizer, heartbeat_seconds=settings.listener_heartbeat_seconds
    )

    @asynccontextmanager
    async def decide(app: FastAPI, _resources: Resources) -> AsyncIterator[None]:
        app.state.authorizer = authorizer
        app.state.listener = listener
        register_ready_check(app, "pubsub", listener.wait_connected)
        # rbac's own routes do not depend on Redis being up.
        await apply_manifest(database, build_manifest(SERVICE, app.openapi()))
        authorizer.routes = await load_route_table(database)
        listener.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.connected.wait(), CONNECT_WAIT_SECONDS)
        try:
            yield
        finally:
            await listener.stop()

    lifespan = service_lifespan(
        settings,
        sql=database,
        redis=redis,
        tokens=verifier,
        publish_routes=True,
        started=decide,
    )
    app = create_service_app(
        SERVICE,
        settings,
        routers=[registry_router, roles_router, docs_portal_router],
        lifespan=lifespan,
        configure_logs=configure_logs,
        app_class=RbacApi,
    )
    app.authorize = AuthorizeEndpoint(authorizer)
    return app


class RbacApi(FastAPI):
    """rbac's FastAPI app: `/authorize` is answered before FastAPI's own per-request work.

    The gateway asks `/authorize` on every request; answering it ahead of FastAPI's telemetry
    check, error middleware, our middleware and routing keeps the decision close to the bare hop
    (those layers cost tens of µs per call). Every other request is FastAPI's, unchanged.
    """

    authorize: AuthorizeEndpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == AUTHORIZE_PATH:
            await self.authorize(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
