"""The S3 bucket as the service sees it: async calls off the event loop, local presigning.

The minio client talks to S3 over the internal endpoint; the presigner signs URLs for the public
endpoint clients use. Failures of S3 itself surface as `StorageUnavailableError` (503).
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.error import MinioException, S3Error
from urllib3.exceptions import HTTPError as Urllib3Error

from common.s3 import close_http_pools
from storage import s3_multipart
from storage.errors import StorageUnavailableError
from storage.filenames import content_disposition
from storage.presigner import Presigner
from storage.s3_multipart import PendingUpload, UploadedPart

logger = logging.getLogger("storage.object_store")

_MISSING_OBJECT = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
_REJECTED_PARTS = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})
# Bytes read per chunk while hashing an object: memory stays bounded whatever its size.
DIGEST_CHUNK_BYTES = 1024 * 1024


class ObjectNotFoundError(Exception):
    pass


class UploadNotFoundError(Exception):
    """The multipart upload id is unknown: aborted, completed or never created."""


class ObjectChangedError(Exception):
    """The source of a conditional copy no longer has the ETag it was checked with."""


class PartsRejectedError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str


@dataclass(frozen=True, slots=True)
class ObjectDigest:
    """What reading an object once yielded: its length, SHA-256 (hex) and ETag."""

    size: int
    sha256: str
    etag: str


@dataclass(frozen=True, slots=True)
class BucketUsage:
    name: str
    object_count: int
    total_size: int


def _bare_etag(value: str) -> str:
    return value.strip().strip('"').lower()


class ObjectStore:
    def __init__(
        self,
        client: Minio,
        presigner: Presigner,
        bucket: str,
        *,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.client = client
        self.presigner = presigner
        self.bucket = bucket
        # The connection pool the client was built on, when this store owns it.
        self.http = http

    def close(self) -> None:
        """Close the pooled S3 connections now, not whenever the garbage collector runs."""
        if self.http is not None:
            close_http_pools(self.http)

    async def _run[T](self, call: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.to_thread(call, *args)
        except S3Error as exc:
            if exc.code in _MISSING_OBJECT:
                raise ObjectNotFoundError(exc.code) from exc
            if exc.code == "NoSuchUpload":
                raise UploadNotFoundError(exc.code) from exc
            if exc.code in _REJECTED_PARTS:
                raise PartsRejectedError(exc.code) from exc
            if exc.code == "PreconditionFailed":
                raise ObjectChangedError(exc.code) from exc
            logger.error("S3 refused a call: %s", exc.code)
            raise StorageUnavailableError("Object storage refused the request.") from exc
        except (MinioException, Urllib3Error, OSError) as exc:
            logger.error("S3 unreachable: %s", type(exc).__name__)
            raise StorageUnavailableError("Object storage cannot be reached.") from exc

    async def ensure_bucket(self) -> None:
        if not await self._run(self.client.bucket_exists, self.bucket):
            try:
                await self._run(self.client.make_bucket, self.bucket)
            except StorageUnavailableError:
                # Another replica may have created it between the two calls.
                if not await self._run(self.client.bucket_exists, self.bucket):
                    raise

    async def ping(self) -> None:
        if not await self._run(self.client.bucket_exists, self.bucket):
            raise StorageUnavailableError(f"bucket {self.bucket} is missing")

    async def stat(self, key: str) -> ObjectInfo:
        info = await self._run(self.client.stat_object, self.bucket, key)
        return ObjectInfo(
            size=int(info.size or 0),
            content_type=info.content_type,
            etag=_bare_etag(info.etag or ""),
        )

    async def copy(self, source: str, target: str, *, if_etag: str) -> None:
        """Server-side copy of `source` (up to 5 GiB) with its content type, if its ETag is still
        `if_etag`; else `ObjectChangedError`. No byte passes through the service."""
        await self._run(
            self.client.copy_object,
            self.bucket,
            target,
            CopySource(self.bucket, source, match_etag=if_etag),
        )

    async def digest(self, key: str) -> ObjectDigest:
        """Read the object once, in a worker thread, and hash it in bounded memory."""

        def read() -> ObjectDigest:
            response = self.client.get_object(self.bucket, key)
            try:
                sha256 = hashlib.sha256()
                size = 0
                # Raw bytes as stored: a Content-Encoding the uploader declared is not undone.
                for chunk in response.stream(DIGEST_CHUNK_BYTES, decode_content=False):
                    sha256.update(chunk)
                    size += len(chunk)
                etag = _bare_etag(response.headers.get("ETag", ""))
            finally:
                response.close()
                response.release_conn()
            return ObjectDigest(size=size, sha256=sha256.hexdigest(), etag=etag)

        return await self._run(read)

    async def remove(self, key: str) -> None:
        """Delete the object; deleting a missing object succeeds (S3 semantics)."""
        try:
            await self._run(self.client.remove_object, self.bucket, key)
        except ObjectNotFoundError:
            return

    async def create_multipart(self, key: str, content_type: str) -> str:
        return await self._run(
            s3_multipart.create_upload, self.client, self.bucket, key, content_type
        )

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        return await self._run(s3_multipart.list_parts, self.client, self.bucket, key, upload_id)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        await self._run(
            s3_multipart.complete_upload, self.client, self.bucket, key, upload_id, parts
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort the upload; an upload that is already gone counts as aborted."""
        try:
            await self._run(s3_multipart.abort_upload, self.client, self.bucket, key, upload_id)
        except UploadNotFoundError:
            return

    async def pending_multipart(self, prefix: str) -> list[PendingUpload]:
        return await self._run(s3_multipart.list_uploads, self.client, self.bucket, prefix)

    async def keys_older_than(self, prefix: str, cutoff: datetime) -> list[str]:
        """Keys under `prefix` last written before `cutoff` (lists the whole prefix)."""

        def scan() -> list[str]:
            return [
                str(obj.object_name)
                for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.last_modified is not None and obj.last_modified < cutoff
            ]

        return await self._run(scan)

    async def usage(self) -> BucketUsage:
        def count() -> BucketUsage:
            objects = self.client.list_objects(self.bucket, recursive=True)
            total = n = 0
            for obj in objects:
                n += 1
                total += int(obj.size or 0)
            return BucketUsage(name=self.bucket, object_count=n, total_size=total)

        return await self._run(count)

    def presign_put(
        self, key: str, content_type: str, size: int, *, expires_seconds: int, now: datetime
    ) -> str:
        """A single-part PUT whose signature pins the content type and the exact length.

        Signing the length keeps a client from parking more bytes than it declared under a
        file that it then never completes.
        """
        return self.presigner.object_url(
            "PUT",
            self.bucket,
            key,
            expires_seconds=expires_seconds,
            headers={"Content-Type": content_type, "Content-Length": str(size)},
            now=now,
        )

    def presign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        size: int,
        *,
        expires_seconds: int,
        now: datetime,
    ) -> str:
        """A PUT for one part, its exact length signed like a single upload's."""
        return self.presigner.object_url(
            "PUT",
            self.bucket,
            key,
            expires_seconds=expires_seconds,
            query={"partNumber": str(part_number), "uploadId": upload_id},
            headers={"Content-Length": str(size)},
            now=now,
        )

    def presign_get(self, key: str, filename: str, *, expires_seconds: int, now: datetime) -> str:
        return self.presigner.object_url(
            "GET",
            self.bucket,
            key,
            expires_seconds=expires_seconds,
            query={"response-content-disposition": content_disposition(filename)},
            now=now,
        )
