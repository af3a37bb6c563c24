"""S3 multipart calls the minio SDK implements but does not make public.

`Minio` exposes these operations only as underscored methods; every use of them is kept here, so
an SDK upgrade that renames them breaks one small, tested module. All functions block: call them
through `asyncio.to_thread`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from minio import Minio
from minio.datatypes import Part

# The S3 maximum per ListParts / ListMultipartUploads page.
PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class UploadedPart:
    part_number: int
    etag: str
    size: int | None


@dataclass(frozen=True, slots=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated_at: datetime | None


def create_upload(client: Minio, bucket: str, key: str, content_type: str) -> str:
    """Start a multipart upload whose object will carry `content_type`; its upload id."""
    upload_id: str = client._create_multipart_upload(bucket, key, {"Content-Type": content_type})
    return upload_id


def list_parts(client: Minio, bucket: str, key: str, upload_id: str) -> list[UploadedPart]:
    """Every part uploaded so far, across pages."""
    parts: list[UploadedPart] = []
    marker: str | None = None
    while True:
        page = client._list_parts(
            bucket, key, upload_id, max_parts=PAGE_SIZE, part_number_marker=marker
        )
        parts.extend(UploadedPart(p.part_number, p.etag, p.size) for p in page.parts)
        if not page.is_truncated or not page.next_part_number_marker:
            return parts
        marker = page.next_part_number_marker


def complete_upload(
    client: Minio, bucket: str, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
) -> None:
    """Assemble the object from `(part_number, etag)` pairs in ascending order."""
    client._complete_multipart_upload(
        bucket, key, upload_id, [Part(part_number=n, etag=etag) for n, etag in parts]
    )


def abort_upload(client: Minio, bucket: str, key: str, upload_id: str) -> None:
    client._abort_multipart_upload(bucket, key, upload_id)


def list_uploads(client: Minio, bucket: str, prefix: str) -> list[PendingUpload]:
    """The first page of unfinished uploads under `prefix`.

    One page only: the SDK's result drops the next upload-id marker, and callers that abort what
    they list see the rest on their next run.
    """
    page = client._list_multipart_uploads(bucket, prefix=prefix, max_uploads=PAGE_SIZE)
    return [
        PendingUpload(u.object_name, u.upload_id, u.initiated_time)
        for u in page.uploads
        if u.upload_id
    ]
