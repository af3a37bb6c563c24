"""The auth app: `uvicorn --factory auth.app:create_app` runs it with settings from the env."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from auth.deps import password_hasher
from auth.keys import KeyConfigurationError, load_key_ring
from auth.login.api import router as login_router
from auth.login.swagger_api import router as swagger_login_router
from auth.sessions.access_tokens import AccessTokenSigner
from auth.sessions.api import router as sessions_router
from auth.settings import AuthSettings
from auth.users.api import router as users_router
from common.app import create_app as create_service_app
from common.health import register_ready_check
from common.redis_client import create_redis
from common.security import install_token_verification
from common.settings import Environment, load_settings
from common.sql import SqlDatabase
from common.tokens import StaticKeys


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or load_settings(AuthSettings)
    try:
        keys = load_key_ring(settings)
    except KeyConfigurationError as exc:
        sys.exit(f"invalid setting {exc}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = SqlDatabase(settings.database_url, pool_size=settings.sql_pool_size)
        redis = create_redis(settings.redis_url)
        app.state.database = database
        app.state.redis = redis
        install_token_verification(
            app, settings, redis=redis, keys=StaticKeys(dict(keys.verification_keys()))
        )
        register_ready_check(app, "sql", database.ping)
        register_ready_check(app, "redis", redis.ping)
        try:
            yield
        finally:
            await redis.aclose()
            await database.dispose()

    routers: list[APIRouter] = [login_router, sessions_router, users_router]
    if settings.environment is Environment.LOCAL:
        routers.append(swagger_login_router)
    app = create_service_app(
        "auth",
        settings,
        routers=routers,
        lifespan=lifespan,
        description="Users, RSA-protected login, rotating refresh tokens and sessions.",
    )
    app.state.keys = keys
    app.state.passwords = password_hasher(settings)
    app.state.signer = AccessTokenSigner(
        keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    return app
