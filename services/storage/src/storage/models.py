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
    """One file: its keys are chosen by the server, never derived from the filename.

    `object_key` is what downloads read; `staging_key` is what a single upload's URL writes (None
    for multipart uploads and for single uploads started before staging keys, whose URL wrote
    `object_key` itself). `etag` and `checksum_sha256` describe the object when it became ready.
    """

    id: UUID = Field(default_factory=uuid7)  # type: ignore[assignment]
    owner_id: str
    bucket: str
    object_key: str
    staging_key: str | None = None
    filename: str
    content_type: str
    size: int
    status: FileStatus = FileStatus.PENDING
    upload_id: str | None = None
    part_size: int | None = None
    part_count: int | None = None
    parts: list[StoredPart] = Field(default_factory=list)
    etag: str | None = None
    checksum_sha256: str | None = None
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
