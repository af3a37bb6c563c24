"""The auth app: `uvicorn --factory auth.app:create_app` runs it with settings from the env."""

import sys

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
from common.lifespan import service_lifespan
from common.settings import Environment, load_settings
from common.tokens import StaticKeys


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or load_settings(AuthSettings)
    try:
        keys = load_key_ring(settings)
    except KeyConfigurationError as exc:
        sys.exit(f"invalid setting {exc}")

    lifespan = service_lifespan(
        settings,
        sql=True,
        redis=True,
        # auth verifies its own tokens with the keys it holds, without a JWKS round trip.
        tokens=StaticKeys(dict(keys.verification_keys())),
        publish_routes=True,
    )
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
