"""`CurrentUser` and `AdminUser`: each service verifies the caller's token itself too.

The gateway has already decided; verifying again in the service means a request that reaches it
some other way (a misrouted internal call) is still refused.
"""

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.errors import ForbiddenError, ServiceUnavailableError, UnauthorizedError
from common.revocation import is_revoked
from common.settings import ServiceSettings
from common.tokens import AccessClaims, InvalidTokenError, JwksClient, KeySource, TokenVerifier

logger = logging.getLogger("common.security")

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/login")

# An absolute gateway path: Swagger UI resolves it against the page's origin, so the same value
# works from every service's /docs and from the portal. auth serves it in ENVIRONMENT=local only.
SWAGGER_LOGIN_URL = "/auth/login/swagger"
PASSWORD_LOGIN_SCHEME = "OAuth2Password"  # noqa: S105 - a scheme name, not a secret


def offer_password_login(schema: dict[str, Any], token_url: str = SWAGGER_LOGIN_URL) -> None:
    """Offer Swagger UI's username/password login wherever `schema` asks for the bearer token.

    The OAuth2 password flow is added as an alternative, not a replacement: pasting a token (one
    from the RSA login, or another user's) keeps working, and both schemes put the same
    `Authorization: Bearer` header on the request, which is all `current_user` reads.
    """
    schemes = schema.get("components", {}).get("securitySchemes", {})
    bearer = _bearer.scheme_name
    if bearer not in schemes:
        return
    schemes[PASSWORD_LOGIN_SCHEME] = {
        "type": "oauth2",
        "description": f"Local only: log in with a username and password at {token_url}.",
        "flows": {"password": {"tokenUrl": token_url, "scopes": {}}},
    }
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            requirements = operation.get("security", [])
            if any(bearer in requirement for requirement in requirements):
                requirements.append({PASSWORD_LOGIN_SCHEME: []})


def install_token_verification(
    app: FastAPI,
    settings: ServiceSettings,
    *,
    redis: "Redis | None",
    keys: KeySource | None = None,
) -> TokenVerifier:
    """Make `CurrentUser` work in `app`: keys from auth's JWKS unless given, revocation in Redis."""
    source = keys if keys is not None else JwksClient(str(settings.jwks_url))
    verifier = TokenVerifier(source, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    app.state.token_verifier = verifier
    app.state.revocation_redis = redis
    return verifier


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""The request's bearer credentials, if any. A route depending on it (directly or through
`CurrentUser`) is documented in OpenAPI as asking for the token."""


async def current_user(request: Request, credentials: BearerCredentials) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError("A bearer access token is required.", code="missing_token")
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        claims = await verifier.verify(credentials.credentials)
    except InvalidTokenError as exc:
        raise UnauthorizedError(
            f"Access token rejected: {exc.reason}.", code="invalid_token"
        ) from exc
    redis: Redis | None = request.app.state.revocation_redis
    if redis is not None:
        try:
            revoked = await is_revoked(
                redis, session_id=claims.sid, user_id=claims.sub, issued_at=claims.iat
            )
        except (RedisError, OSError) as exc:
            logger.warning("revocation check failed: %s", type(exc).__name__)
            raise ServiceUnavailableError(
                "Token revocation cannot be checked right now.", code="revocation_unavailable"
            ) from exc
        if revoked:
            raise UnauthorizedError("The session has been revoked.", code="token_revoked")
    return claims


CurrentUser = Annotated[AccessClaims, Depends(current_user)]


async def admin_user(user: CurrentUser) -> AccessClaims:
    if not user.adm:
        raise ForbiddenError("This action is reserved to administrators.", code="admin_required")
    return user


AdminUser = Annotated[AccessClaims, Depends(admin_user)]
