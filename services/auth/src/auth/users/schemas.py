"""Request and response bodies of the user routes."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from auth.users.models import USERNAME_MAX_LENGTH

USERNAME_PATTERN = r"^[A-Za-z0-9._@+-]+$"


def _normalize_email(value: str) -> str:
    # Stored lower-cased so uniqueness does not depend on how someone typed it.
    return value.strip().lower()


# Shape only: whether the mailbox exists is not something a form can prove.
Email = Annotated[
    str,
    Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(_normalize_email),
]
# Refused before hashing; the policy then applies the configured limit.
PASSWORD_FIELD_MAX = 1024


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=USERNAME_MAX_LENGTH, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=PASSWORD_FIELD_MAX)
    name: str = Field("", max_length=200)
    email: Email | None = None
    is_admin: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, min_length=1, max_length=PASSWORD_FIELD_MAX)
    name: str | None = Field(None, max_length=200)
    email: Email | None = None
    is_active: bool | None = None
    is_admin: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    name: str
    email: str | None
    is_admin: bool
    is_active: bool


class UserDetail(UserOut):
    created_at: datetime
    updated_at: datetime
