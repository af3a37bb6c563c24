"""Public routes: the login key, login, token refresh and the JWKS."""

from typing import Any

from fastapi import APIRouter

from auth.deps import (
    ClientIpDep,
    KeyOffersDep,
    KeysDep,
    LoginServiceDep,
    SessionServiceDep,
    UserAgentDep,
    UserRepositoryDep,
)
from auth.errors import (
    InvalidCredentialsError,
    InvalidRefreshTokenError,
    LoginThrottledError,
    PublicKeyRateLimitedError,
    RefreshTokenReusedError,
)
from auth.login.schemas import LoginCreate, PublicKeyRead, RefreshCreate, TokenPairRead
from auth.login.service import LoginAttempt
from auth.sessions.service import IssuedTokens
from common.access import Access, access
from common.errors import error_responses

router = APIRouter(tags=["login"])


def token_pair(tokens: IssuedTokens) -> TokenPairRead:
    return TokenPairRead(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        refresh_expires_in=tokens.refresh_expires_in,
    )


@router.get(
    "/keys/public",
    openapi_extra=access(Access.PUBLIC),
    summary="The RSA key to encrypt the password with, and a single-use nonce",
    responses=error_responses(PublicKeyRateLimitedError),
)
async def public_key(offers: KeyOffersDep, ip: ClientIpDep) -> PublicKeyRead:
    offer = await offers.offer(ip)
    return PublicKeyRead(
        kid=offer.kid,
        algorithm=offer.algorithm,
        public_key=offer.public_key,
        nonce=offer.nonce,
        nonce_expires_in=offer.nonce_expires_in,
    )


@router.post(
    "/login",
    openapi_extra=access(Access.PUBLIC),
    summary="Log in with an RSA-OAEP encrypted password",
    responses=error_responses(InvalidCredentialsError, LoginThrottledError),
)
async def login(
    body: LoginCreate, login: LoginServiceDep, ip: ClientIpDep, user_agent: UserAgentDep
) -> TokenPairRead:
    attempt = LoginAttempt(
        username=body.username, ciphertext=body.password, ip=ip, user_agent=user_agent
    )
    return token_pair(await login.login(attempt))


@router.post(
    "/token/refresh",
    openapi_extra=access(Access.PUBLIC),
    summary="Exchange a refresh token for a new pair (send the login's User-Agent)",
    responses=error_responses(InvalidRefreshTokenError, RefreshTokenReusedError),
)
async def refresh(
    body: RefreshCreate,
    sessions: SessionServiceDep,
    users: UserRepositoryDep,
    user_agent: UserAgentDep,
) -> TokenPairRead:
    tokens = await sessions.refresh(body.refresh_token, user_agent=user_agent, users=users.get)
    return token_pair(tokens)


@router.get(
    "/.well-known/jwks.json",
    openapi_extra=access(Access.PUBLIC),
    summary="The keys that verify access tokens",
)
async def jwks(keys: KeysDep) -> dict[str, Any]:
    return keys.jwks()
