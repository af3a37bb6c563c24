"""Request and response bodies of the login routes."""

from pydantic import BaseModel, Field

from auth.users.models import USERNAME_MAX_LENGTH
from common.sql import SqlText


class PublicKeyRead(BaseModel):
    kid: str
    algorithm: str = Field(description="Always RSA-OAEP-256 (MGF1-SHA256, SHA-256, no label)")
    public_key: str = Field(description="SPKI PEM")
    nonce: str = Field(description="Single use; put it in the encrypted envelope")
    nonce_expires_in: int


class LoginCreate(BaseModel):
    username: SqlText = Field(min_length=1, max_length=USERNAME_MAX_LENGTH)
    password: str = Field(
        min_length=1,
        max_length=65_536,
        description=(
            'base64 of RSA-OAEP-SHA256 over the UTF-8 JSON {"password", "nonce", "username"};'
            " the envelope's username must equal this body's"
        ),
    )


class RefreshCreate(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=1024)


class TokenPairRead(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_expires_in: int
