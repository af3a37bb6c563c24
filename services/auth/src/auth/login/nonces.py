"""Single-use login nonces in Redis (`auth:nonce:{nonce}`), consumed atomically."""

import re
import secrets

from redis.asyncio import Redis

_FORMAT = re.compile(r"^[A-Za-z0-9_-]{22}$")


def nonce_key(nonce: str) -> str:
    return f"auth:nonce:{nonce}"


class NonceStore:
    def __init__(self, redis: "Redis", *, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    def new(self) -> str:
        """A fresh nonce, not yet stored: `PublicKeyRateLimit` stores it when it admits a call."""
        return secrets.token_urlsafe(16)

    def key_of(self, nonce: str) -> str | None:
        """The Redis key of a well-formed nonce (to consume with GETDEL), None for anything else."""
        return nonce_key(nonce) if _FORMAT.match(nonce) else None

    async def consume(self, nonce: str) -> bool:
        """True exactly once per issued, unexpired nonce (GETDEL makes racing logins lose)."""
        if not _FORMAT.match(nonce):
            return False
        return await self.redis.getdel(nonce_key(nonce)) is not None
