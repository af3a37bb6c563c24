"""Sign access tokens the way auth does, with a test key, for tests of token consumers."""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from common.tokens import StaticKeys

TEST_ISSUER = "async-fastapi-multidb"
TEST_AUDIENCE = "async-fastapi-multidb"


@dataclass
class TokenSigner:
    """A key pair and the claims auth would put in an access token."""

    kid: str = "test-key"
    issuer: str = TEST_ISSUER
    audience: str = TEST_AUDIENCE
    private_key: RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def keys(self) -> StaticKeys:
        return StaticKeys({self.kid: self.private_key.public_key()})

    def private_pem(self) -> str:
        """The private key as a service reads it from a file or a setting (PKCS#8 PEM)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Default claims; an override of None removes the claim."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 900,
            "name": "alice",
            "adm": False,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self,
        *,
        key: Any = None,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        header = {"kid": self.kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(
            self.claims(**overrides), key or self.private_key, algorithm=algorithm, headers=header
        )
