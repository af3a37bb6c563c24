"""Signing access tokens (RS256, `kid`, `typ: at+jwt`)."""

import asyncio
from dataclasses import dataclass

import jwt

from auth.keys import KeyRing
from common.tokens import ACCESS_TOKEN_TYPE, ALGORITHM


@dataclass(frozen=True)
class AccessTokenClaims:
    user_id: str
    session_id: str
    jti: str
    issued_at: int
    expires_at: int
    name: str
    is_admin: bool


class AccessTokenSigner:
    def __init__(self, keys: KeyRing, *, issuer: str, audience: str) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience

    async def sign(self, claims: AccessTokenClaims) -> str:
        """The same claims always give the same token (RS256 signatures are deterministic)."""
        return await asyncio.to_thread(self._sign_sync, claims)

    def _sign_sync(self, claims: AccessTokenClaims) -> str:
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": claims.user_id,
            "sid": claims.session_id,
            "jti": claims.jti,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "name": claims.name,
            "adm": claims.is_admin,
        }
        return jwt.encode(
            payload,
            self.keys.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.keys.kid, "typ": ACCESS_TOKEN_TYPE},
        )
