"""Storage settings: S3 and MongoDB from the shared variables, limits under `STORAGE_`."""

from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from common.settings import MongoSettings, service_config

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB
# The S3 protocol's own bounds: presigned URLs live at most 7 days, parts are 5 MiB to 5 GiB
# (the last one may be smaller), an upload has at most 10,000 parts.
MAX_URL_EXPIRY_SECONDS = 7 * 24 * 3600
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000


class StorageSettings(MongoSettings):
    model_config = service_config("STORAGE_")

    mongo_database: str = "storage"
    s3_endpoint: str = Field("http://127.0.0.1:9000", validation_alias="S3_ENDPOINT")
    s3_public_endpoint: str | None = Field(None, validation_alias="S3_PUBLIC_ENDPOINT")
    s3_access_key: str = Field("minioadmin", validation_alias="S3_ACCESS_KEY")
    s3_secret_key: SecretStr = Field(SecretStr(""), validation_alias="S3_SECRET_KEY")
    s3_region: str = Field("us-east-1", validation_alias="S3_REGION")
    bucket: str = Field("files", min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+$")

    allowed_content_types: list[str] = Field(
        default_factory=list,
        description="Allowed content types (`image/*` patterns too); empty allows every type.",
    )
    max_single_upload_bytes: int = Field(5 * GIB, ge=1, le=5 * GIB)
    max_file_bytes: int = Field(5 * TIB, ge=1, le=MAX_PARTS * MAX_PART_SIZE)
    default_part_size_bytes: int = Field(16 * MIB, ge=MIN_PART_SIZE, le=MAX_PART_SIZE)
    url_expiry_seconds: int = Field(900, ge=1, le=MAX_URL_EXPIRY_SECONDS)
    max_url_expiry_seconds: int = Field(MAX_URL_EXPIRY_SECONDS, ge=1, le=MAX_URL_EXPIRY_SECONDS)
    stale_upload_seconds: int = Field(24 * 3600, ge=60)

    @model_validator(mode="after")
    def _check_endpoints_and_expiry(self) -> Self:
        for name in ("s3_endpoint", "s3_public_endpoint"):
            value = getattr(self, name)
            if value is None:
                continue
            parts = urlsplit(value)
            # Presigned URLs are signed for the exact host and path the client will use; a path
            # prefix would be stripped by a proxy and break every signature.
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{name} must be an http(s) URL")
            if parts.path not in ("", "/") or parts.query:
                raise ValueError(f"{name} must be an origin without a path")
        if self.url_expiry_seconds > self.max_url_expiry_seconds:
            raise ValueError("url_expiry_seconds must not exceed max_url_expiry_seconds")
        return self

    @property
    def public_endpoint(self) -> str:
        """The S3 origin clients reach; presigned URLs are signed for this host."""
        return self.s3_public_endpoint or self.s3_endpoint
