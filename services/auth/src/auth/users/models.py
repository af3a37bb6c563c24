"""The `users` table."""

import uuid
from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from common.clock import utcnow
from common.ids import uuid7
from common.sql import UtcDateTime

USERNAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 320


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    username: str = Field(max_length=USERNAME_MAX_LENGTH)
    # Uniqueness is case-insensitive: `Admin` and `admin` are one account.
    username_key: str = Field(max_length=USERNAME_MAX_LENGTH, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=EMAIL_MAX_LENGTH, unique=True)
    password_hash: str = Field(max_length=512)
    is_active: bool = True
    is_admin: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False)
    )
