from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from common.patch import never_null
from common.sql import SqlText
from rbac.patterns import PATTERN_REGEX

RoleCode = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="Stable role identifier")
]
UserId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Patterns = Annotated[
    list[Annotated[str, Field(json_schema_extra={"pattern": PATTERN_REGEX})]], Field(max_length=500)
]


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: RoleCode
    name: Annotated[SqlText, Field(min_length=1, max_length=200)]
    description: Annotated[SqlText, Field(max_length=2000)] = ""
    permissions: Patterns = Field(default_factory=list)
    is_active: StrictBool = True


class RoleUpdate(BaseModel):
    """Only the fields sent are changed; none of them takes `null` (`null_not_allowed`)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[SqlText, Field(min_length=1, max_length=200)] | None = Field(
        None, json_schema_extra=never_null
    )
    description: Annotated[SqlText, Field(max_length=2000)] | None = Field(
        None, json_schema_extra=never_null
    )
    permissions: Patterns | None = Field(None, json_schema_extra=never_null)
    is_active: StrictBool | None = Field(None, json_schema_extra=never_null)


class RoleRead(BaseModel):
    code: str
    name: str
    description: str
    permissions: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime
    unknown_permissions: list[str] = Field(
        default_factory=list,
        description="Granted codes or patterns that match no registered route (yet)",
    )


class UserRolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: Annotated[list[RoleCode], Field(max_length=100)]


class UserRolesRead(BaseModel):
    user_id: str
    roles: list[str]


class EffectivePermissionsRead(BaseModel):
    user_id: str
    is_admin: bool | None = Field(
        description="Whether the user is an administrator: known for the caller "
        "(`/me/permissions`), null for another user (auth keeps that flag)"
    )
    roles: list[str]
    patterns: list[str] = Field(description="What the user's active roles grant, as written")
    permissions: list[str] = Field(
        description="Routes the user may call that need a permission: those their roles "
        "grant, plus the admin-only ones for an administrator (no role opens those). Public "
        "and authenticated routes need no grant and are not listed"
    )
