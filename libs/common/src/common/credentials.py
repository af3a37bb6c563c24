"""`authenticate`: the one reading of a request's credential, for the gateway and every service.

The gateway's decision (rbac `/authorize`) and each service's `CurrentUserDep` both call it with
every `Authorization` value the request carries, so the two cannot judge different credentials:
a request that carries more than one (two header lines, or one value holding several, as a proxy
folds repeated headers into `a, b`) is refused outright instead of one side picking the first and
the other the last.
"""

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.revocation import is_revoked
from common.tokens import AccessClaims, InvalidTokenError, TokenVerifier

logger = logging.getLogger("common.credentials")

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request's credential is not accepted: `status` 401 (or 503 when revocation cannot be
    checked), a stable `code` and a `detail` safe to show (it never holds the token)."""

    status: int
    code: str
    detail: str


MISSING_TOKEN = Rejection(401, "missing_token", "a bearer access token is required")
MULTIPLE_CREDENTIALS = Rejection(
    401, "multiple_credentials", "a request must carry exactly one credential"
)
TOKEN_REVOKED = Rejection(401, "token_revoked", "the session has been revoked")
REVOCATION_UNAVAILABLE = Rejection(
    503, "revocation_unavailable", "token revocation cannot be checked right now"
)


class RevocationCheck(Protocol):
    async def is_revoked(self, claims: AccessClaims) -> bool:
        """Whether the token's session or user was revoked; raises `RedisError` or `OSError`
        when that cannot be told (the caller then refuses)."""


class RedisRevocations:
    """The revocation marks auth writes to Redis, looked up on every request."""

    def __init__(self, redis: "Redis") -> None:
        self.redis = redis

    async def is_revoked(self, claims: AccessClaims) -> bool:
        return await is_revoked(
            self.redis, session_id=claims.sid, user_id=claims.sub, issued_at=claims.iat
        )


def bearer_token(authorization: Sequence[str]) -> str | Rejection:
    """The token of the request's only credential, given every `Authorization` value it carries.

    Exactly one value of the form `Bearer <b64token>` (scheme case-insensitive) is accepted. Two
    values, a comma (a folded list or a second credential) or a second word after the token are
    `multiple_credentials`; nothing, another scheme or a bare `Bearer` are `missing_token`.
    """
    if not authorization:
        return MISSING_TOKEN
    if len(authorization) > 1:
        return MULTIPLE_CREDENTIALS
    value = authorization[0]
    if "," in value:
        return MULTIPLE_CREDENTIALS
    words = value.split()
    if not words or words[0].lower() != "bearer":
        return MISSING_TOKEN
    if len(words) == 1:
        return MISSING_TOKEN
    if len(words) > 2:
        return MULTIPLE_CREDENTIALS
    if not _B64TOKEN.fullmatch(words[1]):
        return Rejection(401, "invalid_token", "access token rejected: malformed token")
    return words[1]


async def authenticate(
    authorization: Sequence[str],
    verifier: TokenVerifier,
    revocations: RevocationCheck | None,
) -> AccessClaims | Rejection:
    """The caller's verified, unrevoked claims, or why the request is refused.

    `authorization` is every `Authorization` value of the request, in order (Starlette's
    `request.headers.getlist("authorization")`, or the raw ASGI headers). With `revocations`
    None (a service without Redis) revocation is not checked.
    """
    token = bearer_token(authorization)
    if isinstance(token, Rejection):
        return token
    try:
        claims = await verifier.verify(token)
    except InvalidTokenError as exc:
        return Rejection(401, "invalid_token", f"access token rejected: {exc.reason}")
    if revocations is None:
        return claims
    try:
        revoked = await revocations.is_revoked(claims)
    except (RedisError, OSError) as exc:
        logger.warning("revocation check failed: %s", type(exc).__name__)
        return REVOCATION_UNAVAILABLE
    if revoked:
        return TOKEN_REVOKED
    return claims
