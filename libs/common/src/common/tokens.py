"""Access-token verification (RFC 8725).

RS256 pinned, `kid` looked up in the JWKS, `iss`/`aud`/`typ`/`exp`/`iat` required, `sub` a user
id, and no token living longer than auth issues them (`exp - iat` at most the access-token
lifetime plus `CLOCK_SKEW_SECONDS`): a token that somehow got signed for ten years is still refused.

Header fields that would point at other keys (`jku`, `x5u`, `jwk`, `x5c`) are never used.
"""

import asyncio
import re
import time
from collections import OrderedDict
from typing import Any, Protocol

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm
from pydantic import BaseModel, ConfigDict, ValidationError

ALGORITHM = "RS256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT type, not a secret
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "sid", "jti"]
DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 15 * 60
# Slack on the lifetime bound, so a verifier configured a little below auth (a rolling change
# of the setting) does not refuse every token at once.
CLOCK_SKEW_SECONDS = 60
# A user id as auth writes it (`str(uuid)`: lowercase, hyphenated). Services parse `sub` as a
# UUID and key ownership on its text, so any other spelling of the same id is refused too.
_USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class InvalidTokenError(Exception):
    """The token must not be accepted; `reason` is safe to show and log (never the token)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AccessClaims(BaseModel):
    # Strict: `"adm": "yes"` or `1` is a malformed token, not an admin.
    model_config = ConfigDict(strict=True)

    sub: str
    sid: str
    jti: str
    iat: int
    exp: int
    iss: str
    aud: str | list[str]
    name: str = ""
    adm: bool = False


class KeySource(Protocol):
    async def get(self, kid: str) -> Any | None:
        """The RSA public key for `kid`, or None when it is unknown."""


class StaticKeys:
    """Keys held in process (auth verifies its own tokens without a round trip)."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys

    async def get(self, kid: str) -> Any | None:
        return self.keys.get(kid)


class JwksClient:
    """Keys fetched from a JWKS URL, cached, refreshed on an unknown kid at most every
    `min_refresh_seconds` (so random kids cannot make us hammer auth)."""

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        max_age_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> Any | None:
        now = time.monotonic()
        stale = now - self._fetched_at > self._max_age
        if kid in self._keys and not stale:
            return self._keys[kid]
        if stale or now - self._fetched_at > self._min_refresh:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= self._min_refresh and self._keys:
                return
            try:
                response = await self._http.get(self.url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError):
                # Keep the keys we have; an unknown kid stays unknown (fail closed).
                self._fetched_at = time.monotonic() - self._max_age + self._min_refresh
                return
            self._keys = parse_jwks(document)
            self._fetched_at = time.monotonic()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        """Whether `aclose()` has released the HTTP client (a lifespan that opened it must)."""
        return self._http.is_closed


def parse_jwks(document: Any) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[kid] = RSAAlgorithm.from_jwk(jwk)
        except (jwt.InvalidKeyError, ValueError, KeyError):
            continue
    return keys


class TokenVerifier:
    """Verifies access tokens and remembers verified ones until they expire."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        max_lifetime_seconds: int = DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
        cache_size: int = 10_000,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime_seconds = max_lifetime_seconds
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> AccessClaims:
        now = int(time.time())
        cached = self._cache.get(token)
        if cached is not None:
            if cached.exp > now:
                return cached
            self._cache.pop(token, None)
        claims = await self._verify(token)
        self._cache[token] = claims
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return claims

    async def _verify(self, token: str) -> AccessClaims:
        if not token or len(token) > 8192:
            raise InvalidTokenError("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError("unexpected algorithm")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            raise InvalidTokenError("unknown key")
        key = await self.keys.get(kid)
        if key is None:
            raise InvalidTokenError("unknown key")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("invalid token") from exc
        try:
            claims = AccessClaims.model_validate(payload)
        except ValidationError as exc:
            raise InvalidTokenError("invalid claims") from exc
        if not _USER_ID.fullmatch(claims.sub):
            raise InvalidTokenError("subject is not a user id")
        if claims.exp - claims.iat > self.max_lifetime_seconds + CLOCK_SKEW_SECONDS:
            raise InvalidTokenError("token lifetime too long")
        return claims

    def forget(self, predicate: Any = None) -> None:
        """Drop cached verifications (all, or those whose claims match `predicate`)."""
        if predicate is None:
            self._cache.clear()
            return
        for token in [t for t, c in self._cache.items() if predicate(c)]:
            self._cache.pop(token, None)
