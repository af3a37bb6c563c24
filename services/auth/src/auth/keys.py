"""The RSA key pair that protects passwords in transit and signs access tokens.

Outside local it comes from settings; in local it is generated once into the state dir (mode
0600) so every instance and every restart agrees on it. The `kid` is the RFC 7638 thumbprint.
"""

import asyncio
import base64
import functools
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

from auth.settings import AuthSettings
from common.settings import Environment
from common.tokens import ALGORITHM

PRIVATE_KEY_FILENAME = "auth-private-key.pem"
PUBLIC_KEY_ALGORITHM = "RSA-OAEP-256"
_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


class KeyConfigurationError(Exception):
    """The configured key is missing or unusable; the service must not start."""


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding)."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_pem(public_key: rsa.RSAPublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class KeyRing:
    """The current key pair and the public keys still accepted for verification."""

    private_key: rsa.RSAPrivateKey
    previous: tuple[rsa.RSAPublicKey, ...] = field(default=())

    # Cached: every login and every token needs them, and they never change.
    @cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @cached_property
    def kid(self) -> str:
        return key_id(self.public_key)

    @cached_property
    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def verification_keys(self) -> dict[str, rsa.RSAPublicKey]:
        keys = {key_id(k): k for k in self.previous}
        keys[self.kid] = self.public_key
        return keys

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        documents = []
        for kid, key in self.verification_keys().items():
            jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
            documents.append(
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": ALGORITHM,
                    "kid": kid,
                    "n": jwk["n"],
                    "e": jwk["e"],
                }
            )
        return {"keys": documents}

    def decrypt_sync(self, ciphertext: bytes) -> bytes:
        """RSA-OAEP-SHA256 only; raises `ValueError` on anything else."""
        return self.private_key.decrypt(ciphertext, _OAEP)

    async def decrypt(self, ciphertext: bytes) -> bytes:
        return await asyncio.to_thread(self.decrypt_sync, ciphertext)


def load_key_ring(settings: AuthSettings) -> KeyRing:
    if settings.private_key is not None:
        private = _parse_private(settings.private_key.get_secret_value().encode())
    elif settings.environment is Environment.LOCAL:
        private = _local_key(settings.state_dir, settings.rsa_key_bits)
    else:
        raise KeyConfigurationError(
            "AUTH_PRIVATE_KEY or AUTH_PRIVATE_KEY_FILE must be set outside ENVIRONMENT=local"
        )
    previous: tuple[rsa.RSAPublicKey, ...] = ()
    if settings.previous_public_key:
        previous = (_parse_public(settings.previous_public_key.encode()),)
    return KeyRing(private_key=private, previous=previous)


@functools.lru_cache(maxsize=8)
def _parse_private(pem: bytes) -> rsa.RSAPrivateKey:
    """Cached per PEM: loading checks the key's consistency (about 0.1 s of CPU), which an app
    made again from the same settings need not pay twice (the tests make hundreds). A refused
    key raises every time; a key object is immutable, so sharing it is safe."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError("AUTH_PRIVATE_KEY is not an unencrypted PEM key") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise KeyConfigurationError("AUTH_PRIVATE_KEY must be an RSA key of at least 2048 bits")
    return key


def _parse_public(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError("AUTH_PREVIOUS_PUBLIC_KEY is not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyConfigurationError("AUTH_PREVIOUS_PUBLIC_KEY must be an RSA key")
    return key


def _local_key(state_dir: Path, bits: int) -> rsa.RSAPrivateKey:
    path = state_dir / PRIVATE_KEY_FILENAME
    if path.exists():
        return _parse_private(path.read_bytes())
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written aside, then linked into place: when two instances start together, the first link
    # wins, the other finds a complete file, and both use the same key.
    staging = state_dir / f".{PRIVATE_KEY_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.link(staging, path)
    except FileExistsError:
        return _parse_private(path.read_bytes())
    finally:
        staging.unlink(missing_ok=True)
    return key
