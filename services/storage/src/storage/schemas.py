"""Request and response bodies of the storage API."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from storage.filenames import MAX_FILENAME_BYTES
from storage.models import FileRecord, FileStatus
from storage.settings import GIB, MAX_PART_SIZE, MAX_PARTS, MAX_URL_EXPIRY_SECONDS, MIN_PART_SIZE
from storage.upload_rules import CONTENT_TYPE_PATTERN, MAX_CONTENT_TYPE_LENGTH

# The bounds below are stated in the OpenAPI (`json_schema_extra`) and enforced by
# `upload_rules`, which answers each with its own problem code (invalid_size, invalid_expiry...).
_EXPIRES_IN = Field(
    None,
    description="Lifetime of the presigned URLs in seconds (default from settings, at most "
    "STORAGE_MAX_URL_EXPIRY_SECONDS, 7 days by default)",
    json_schema_extra={"minimum": 1, "maximum": MAX_URL_EXPIRY_SECONDS},
)


class UploadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        max_length=1024,
        description=f"A plain name: at most {MAX_FILENAME_BYTES} bytes in UTF-8, no path, "
        "no control characters, no leading or trailing whitespace",
        examples=["report.pdf"],
        json_schema_extra={"minLength": 1, "maxLength": MAX_FILENAME_BYTES},
    )
    content_type: str = Field(
        max_length=1024,
        examples=["application/pdf"],
        json_schema_extra={"maxLength": MAX_CONTENT_TYPE_LENGTH, "pattern": CONTENT_TYPE_PATTERN},
    )
    size: StrictInt = Field(
        description="Exact size in bytes, at most STORAGE_MAX_SINGLE_UPLOAD_BYTES (5 GiB by "
        "default); larger files go by multipart",
        examples=[1048576],
        json_schema_extra={"minimum": 1, "maximum": 5 * GIB},
    )
    expires_in: StrictInt | None = _EXPIRES_IN


class UploadTicket(BaseModel):
    file_id: UUID
    upload_url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(
        description="Headers the PUT must carry as given; its body must be exactly `size` bytes"
        " (the length is signed too)"
    )
    expires_at: datetime


class MultipartCreate(UploadCreate):
    size: StrictInt = Field(
        description="Exact size in bytes, at most STORAGE_MAX_FILE_BYTES (5 TiB by default), "
        f"in at most {MAX_PARTS} parts",
        examples=[1048576],
        json_schema_extra={"minimum": 1, "maximum": MAX_PARTS * MAX_PART_SIZE},
    )
    part_size: StrictInt | None = Field(
        None,
        description="Bytes per part, 5 MiB to 5 GiB; computed from the size when omitted",
        json_schema_extra={"minimum": MIN_PART_SIZE, "maximum": MAX_PART_SIZE},
    )


class PartUrl(BaseModel):
    part_number: int
    size: int = Field(description="Exact bytes this part must carry (its length is signed)")
    url: str


class MultipartTicket(BaseModel):
    file_id: UUID
    upload_id: str
    part_size: int
    parts: list[PartUrl]
    expires_at: datetime


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_number: StrictInt
    etag: str = Field(max_length=256)


class MultipartCompletionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = Field(max_length=10_000)


class FileRead(BaseModel):
    id: UUID
    filename: str
    content_type: str
    size: int
    status: FileStatus
    owner_id: str
    created_at: datetime
    completed_at: datetime | None
    checksum_sha256: str | None = Field(
        description="Hex SHA-256 of the bytes downloads serve, computed when a single upload was"
        " completed; null for multipart uploads, pending files and files completed before"
        " checksums were recorded",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    etag: str | None = Field(
        description="The S3 ETag of the stored object when the file became ready (for multipart"
        " uploads S3's composite `md5-of-part-md5s-N`); null while pending",
    )

    @classmethod
    def of(cls, record: FileRecord) -> "FileRead":
        return cls(
            id=record.id,
            filename=record.filename,
            content_type=record.content_type,
            size=record.size,
            status=record.status,
            owner_id=record.owner_id,
            created_at=record.created_at,
            completed_at=record.completed_at,
            checksum_sha256=record.checksum_sha256,
            etag=record.etag,
        )


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime


class BucketRead(BaseModel):
    name: str
    object_count: int
    total_size: int
