"""File metadata in MongoDB (Beanie)."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from common.ids import uuid7


class FileStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"


class StoredPart(BaseModel):
    part_number: int
    etag: str
    size: int


class FileRecord(Document):
    """One file: its object key is chosen by the server, never derived from the filename."""

    id: UUID = Field(default_factory=uuid7)  # type: ignore[assignment]
    owner_id: str
    bucket: str
    object_key: str
    filename: str
    content_type: str
    size: int
    status: FileStatus = FileStatus.PENDING
    upload_id: str | None = None
    part_size: int | None = None
    part_count: int | None = None
    parts: list[StoredPart] = Field(default_factory=list)
    created_at: datetime
    upload_expires_at: datetime
    completed_at: datetime | None = None

    class Settings:
        name = "files"
        indexes = [  # noqa: RUF012 - Beanie reads this class attribute
            # A user's files, newest first.
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)]),
            # Everyone's files for admins, and the cleanup's scan of old pending uploads.
            IndexModel([("created_at", DESCENDING)]),
            IndexModel([("status", ASCENDING), ("created_at", ASCENDING)]),
        ]

    @property
    def is_multipart(self) -> bool:
        return self.upload_id is not None
