"""`CurrentUserDep` and `AdminUserDep`: each service verifies the caller's token itself too.

The gateway has already decided; verifying again in the service means a request that reaches it
some other way (a misrouted internal call) is still refused.
"""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from common.credentials import RedisRevocations, Rejection, authenticate
from common.errors import DomainError, ForbiddenError, ServiceUnavailableError, UnauthorizedError
from common.settings import ServiceSettings
from common.tokens import AccessClaims, KeySource, TokenVerifier

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/login")

PASSWORD_LOGIN_SCHEME = "OAuth2Password"  # noqa: S105 - a scheme name, not a secret


def offer_password_login(schema: dict[str, Any], token_url: str) -> None:
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


def token_verifier(settings: ServiceSettings, keys: KeySource) -> TokenVerifier:
    """A verifier of the access tokens auth issues, with the keys of `keys`."""
    return TokenVerifier(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        max_lifetime_seconds=settings.access_token_ttl_seconds,
    )


def install_token_verification(
    app: FastAPI, settings: ServiceSettings, *, redis: "Redis | None", keys: KeySource
) -> TokenVerifier:
    """Make `CurrentUserDep` work in `app`: tokens verified with `keys`, revocation in Redis
    (`common.lifespan` does it for a service; `keys` belong to the caller, who closes them)."""
    verifier = token_verifier(settings, keys)
    install_verifier(app, verifier, redis=redis)
    return verifier


def install_verifier(app: FastAPI, verifier: TokenVerifier, *, redis: "Redis | None") -> None:
    """Make `CurrentUserDep` work in `app` with `verifier`; revocation looked up in `redis`."""
    app.state.token_verifier = verifier
    app.state.revocations = RedisRevocations(redis) if redis is not None else None


BearerCredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
"""The request's bearer credentials, if any. A route depending on it (directly or through
`CurrentUserDep`) is documented in OpenAPI as asking for the token."""


async def current_user(request: Request, _credentials: BearerCredentialsDep) -> AccessClaims:
    """The verified caller. The credentials are declared so that the OpenAPI asks for the
    token; `authenticate` reads every `Authorization` value itself, as the gateway's does."""
    result = await authenticate(
        request.headers.getlist("authorization"),
        request.app.state.token_verifier,
        request.app.state.revocations,
    )
    if isinstance(result, Rejection):
        raise rejection_error(result)
    return result


def rejection_error(rejection: Rejection) -> DomainError:
    """The problem a service answers for `rejection` (401 with a Bearer challenge, or 503)."""
    if rejection.status == 503:
        return ServiceUnavailableError(rejection.detail, code=rejection.code)
    return UnauthorizedError(rejection.detail, code=rejection.code)


CurrentUserDep = Annotated[AccessClaims, Depends(current_user)]


async def admin_user(user: CurrentUserDep) -> AccessClaims:
    if not user.adm:
        raise ForbiddenError("This action is reserved to administrators.", code="admin_required")
    return user


AdminUserDep = Annotated[AccessClaims, Depends(admin_user)]
