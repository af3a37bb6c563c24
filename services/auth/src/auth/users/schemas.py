"""Request and response bodies of the user routes."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from auth.users.models import USERNAME_MAX_LENGTH
from common.patch import never_null
from common.sql import SqlText

USERNAME_PATTERN = r"^[A-Za-z0-9._@+-]+$"


def _normalize_email(value: str) -> str:
    # Stored lower-cased so uniqueness does not depend on how someone typed it.
    return value.strip().lower()


# Shape only: whether the mailbox exists is not something a form can prove.
Email = Annotated[
    str,
    Field(max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"),
    AfterValidator(_normalize_email),
]
# Refused before hashing; the policy then applies the configured limits.
PASSWORD_FIELD_MAX = 1024
POLICY_DOC = (
    "At least AUTH_PASSWORD_MIN_LENGTH (8 unless configured higher) and at most "
    "AUTH_PASSWORD_MAX_LENGTH (128 by default) characters, any characters, not one of the most "
    "common passwords and not the username (422 password_too_short, password_too_long, "
    "password_too_common)"
)


def _policy_bounds(schema: dict[str, Any]) -> None:
    # The policy's default bounds, checked after the field's own (with their own codes).
    schema.update(minLength=8, maxLength=128)


def _policy_bounds_never_null(schema: dict[str, Any]) -> None:
    never_null(schema)
    _policy_bounds(schema)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=USERNAME_MAX_LENGTH, pattern=USERNAME_PATTERN)
    password: str = Field(
        min_length=1,
        max_length=PASSWORD_FIELD_MAX,
        description=POLICY_DOC,
        json_schema_extra=_policy_bounds,
    )
    name: SqlText = Field("", max_length=200)
    email: Email | None = None
    is_admin: StrictBool = False


class UserUpdate(BaseModel):
    """Only the fields sent are changed; `null` clears the email and is refused for the others
    (`null_not_allowed`)."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        None,
        min_length=1,
        max_length=PASSWORD_FIELD_MAX,
        description=POLICY_DOC,
        json_schema_extra=_policy_bounds_never_null,
    )
    name: SqlText | None = Field(None, max_length=200, json_schema_extra=never_null)
    email: Email | None = None
    is_active: StrictBool | None = Field(None, json_schema_extra=never_null)
    is_admin: StrictBool | None = Field(None, json_schema_extra=never_null)


# The fields of `UserUpdate` that a PATCH may leave out but not set to null.
NOT_NULLABLE = frozenset({"password", "name", "is_active", "is_admin"})


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    name: str
    email: str | None
    is_admin: bool
    is_active: bool


class UserDetailRead(UserRead):
    created_at: datetime
    updated_at: datetime
