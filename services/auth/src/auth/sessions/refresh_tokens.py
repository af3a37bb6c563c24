"""The refresh token format: `{user_id}.{jti}.{secret}`, opaque to clients.

The secret carries 256 random bits; only its SHA-256 is stored. The successor of a token has a
secret derived from the predecessor's, so a retry inside the grace window can be answered with
the same new pair without the server ever storing a usable token.
"""

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_PART = r"[A-Za-z0-9_-]"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_FORMAT = re.compile(rf"^({_UUID})\.({_PART}{{22}})\.({_PART}{{43}})$")


@dataclass(frozen=True)
class RefreshToken:
    user_id: str  # canonical UUID text, as in the access token's `sub`
    jti: str
    secret: str

    def __str__(self) -> str:
        return f"{self.user_id}.{self.jti}.{self.secret}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(str(self).encode()).hexdigest()

    def successor(self, jti: str) -> "RefreshToken":
        mac = hmac.new(self.secret.encode(), f"rotate:{jti}".encode(), hashlib.sha256).digest()
        secret = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        return RefreshToken(user_id=self.user_id, jti=jti, secret=secret)


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def new_refresh_token(user_id: str) -> RefreshToken:
    return RefreshToken(user_id=user_id, jti=new_jti(), secret=secrets.token_urlsafe(32))


def parse_refresh_token(value: str) -> RefreshToken | None:
    match = _FORMAT.match(value) if len(value) < 200 else None
    if match is None:
        return None
    return RefreshToken(user_id=match[1], jti=match[2], secret=match[3])


def fingerprint(value: str) -> str:
    """A stored stand-in for a value we only ever compare (the User-Agent)."""
    return hashlib.sha256(value.encode()).hexdigest()
