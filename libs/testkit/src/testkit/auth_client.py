"""The client side of auth's RSA-protected login, for tests and benchmarks.

    pair = await login(http, "admin", password)          # http: httpx.AsyncClient on the gateway
    http.headers["Authorization"] = f"Bearer {pair.access_token}"

The password travels as base64 of RSA-OAEP (MGF1-SHA256, SHA-256, no label) over the UTF-8 JSON
`{"password": ..., "nonce": ..., "username": ...}`, with a fresh single-use nonce from
`GET /auth/keys/public` and the same username as the request body's.
"""

import base64
import json
from functools import lru_cache

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    refresh_expires_in: int


class LoginFailedError(Exception):
    """Login was refused; `response` holds auth's problem+json answer."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"login refused with {response.status_code}: {response.text[:300]}")


@lru_cache(maxsize=8)
def _public_key(pem: str) -> rsa.RSAPublicKey:
    """Parsed once per key, as a real client keeps the key it fetched (the login benchmark
    encrypts thousands of passwords with one key)."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("auth's public key is not an RSA key")
    return key


def encrypt_password(public_key_pem: str, password: str, nonce: str, *, username: str) -> str:
    """Base64 of RSA-OAEP-SHA256 over `{"password", "nonce", "username"}`: sealed for one
    login of `username` (auth refuses it for any other username)."""
    key = _public_key(public_key_pem)
    plaintext = json.dumps({"password": password, "nonce": nonce, "username": username}).encode()
    ciphertext = key.encrypt(
        plaintext,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    return base64.b64encode(ciphertext).decode()


async def encrypted_login_body(
    http: httpx.AsyncClient, username: str, password: str, *, prefix: str = "/auth"
) -> dict[str, str]:
    """The JSON body of `POST {prefix}/login`, with a fresh nonce from the server."""
    response = await http.get(f"{prefix}/keys/public")
    response.raise_for_status()
    key = response.json()
    return {
        "username": username,
        "password": encrypt_password(key["public_key"], password, key["nonce"], username=username),
    }


async def login(
    http: httpx.AsyncClient, username: str, password: str, *, prefix: str = "/auth"
) -> TokenPair:
    """Log in the way a browser client does; raises `LoginFailedError` when auth refuses."""
    body = await encrypted_login_body(http, username, password, prefix=prefix)
    response = await http.post(f"{prefix}/login", json=body)
    if response.status_code != 200:
        raise LoginFailedError(response)
    return TokenPair.model_validate(response.json())


async def refresh(
    http: httpx.AsyncClient, refresh_token: str, *, prefix: str = "/auth"
) -> TokenPair:
    """Rotate a refresh token (send the same User-Agent as at login)."""
    response = await http.post(f"{prefix}/token/refresh", json={"refresh_token": refresh_token})
    if response.status_code != 200:
        raise LoginFailedError(response)
    return TokenPair.model_validate(response.json())
