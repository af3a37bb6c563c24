"""File metadata queries; the only module that talks to MongoDB."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from beanie import SortDirection
from pymongo.errors import ConnectionFailure

from common.pagination import PageParams
from storage.errors import MetadataUnavailableError
from storage.models import FileRecord, FileStatus, StoredPart

logger = logging.getLogger("storage.repository")


@contextmanager
def _reachable() -> Iterator[None]:
    """An unreachable MongoDB is a 503 for the caller, not an unexpected error."""
    try:
        yield
    except ConnectionFailure as exc:
        logger.error("MongoDB unreachable: %s", type(exc).__name__)
        raise MetadataUnavailableError("File metadata cannot be reached right now.") from exc


@dataclass(frozen=True, slots=True)
class ReadyObject:
    """The object a file serves once ready, as it was verified."""

    key: str
    etag: str
    checksum_sha256: str | None


class FileRepository:
    async def add(self, record: FileRecord) -> FileRecord:
        with _reachable():
            await record.insert()
        return record

    async def get(self, file_id: UUID) -> FileRecord | None:
        with _reachable():
            return await FileRecord.get(file_id)

    async def page(self, owner_id: str | None, params: PageParams) -> tuple[list[FileRecord], int]:
        """Newest first; `owner_id=None` lists every owner's files."""
        query = (
            FileRecord.find_all()
            if owner_id is None
            else FileRecord.find(FileRecord.owner_id == owner_id)
        )
        with _reachable():
            total = await query.count()
            items = (
                await query.sort([("created_at", SortDirection.DESCENDING)])
                .skip(params.offset)
                .limit(params.limit)
                .to_list()
            )
        return items, total

    async def mark_ready(
        self, file_id: UUID, completed_at: datetime, parts: list[StoredPart], verified: ReadyObject
    ) -> FileRecord | None:
        """Pending → ready in one conditional write; None when it was not pending any more."""
        with _reachable():
            result = await FileRecord.find_one(
                FileRecord.id == file_id, FileRecord.status == FileStatus.PENDING
            ).update(
                {
                    "$set": {
                        "status": FileStatus.READY.value,
                        "completed_at": completed_at,
                        "parts": [p.model_dump() for p in parts],
                        "object_key": verified.key,
                        "etag": verified.etag,
                        "checksum_sha256": verified.checksum_sha256,
                    }
                }
            )
        if getattr(result, "modified_count", 0) != 1:
            return None
        return await self.get(file_id)

    async def unsealed_ready(self, now: datetime, *, limit: int) -> list[FileRecord]:
        """Ready single uploads still served from the key their unexpired upload URL writes."""
        with _reachable():
            return (
                await FileRecord.find(
                    FileRecord.status == FileStatus.READY,
                    FileRecord.upload_id == None,  # noqa: E711 - a MongoDB query, not a comparison
                    FileRecord.staging_key == None,  # noqa: E711
                    FileRecord.upload_expires_at > now,
                )
                .sort([("created_at", SortDirection.ASCENDING)])
                .limit(limit)
                .to_list()
            )

    async def reseal(self, file_id: UUID, served_key: str, verified: ReadyObject) -> bool:
        """Serve `verified` instead of `served_key`, unless the record changed meanwhile."""
        with _reachable():
            result = await FileRecord.find_one(
                FileRecord.id == file_id,
                FileRecord.status == FileStatus.READY,
                FileRecord.object_key == served_key,
                FileRecord.staging_key == None,  # noqa: E711
            ).update(
                {
                    "$set": {
                        "object_key": verified.key,
                        "staging_key": served_key,
                        "etag": verified.etag,
                        "checksum_sha256": verified.checksum_sha256,
                    }
                }
            )
        return getattr(result, "modified_count", 0) == 1

    async def delete(self, file_id: UUID) -> bool:
        with _reachable():
            result = await FileRecord.find_one(FileRecord.id == file_id).delete()
        return getattr(result, "deleted_count", 0) == 1

    async def stale_pending(
        self, created_before: datetime, urls_expired_by: datetime, *, limit: int
    ) -> list[FileRecord]:
        """Pending files created before the cutoff whose upload URLs can no longer be used."""
        with _reachable():
            return (
                await FileRecord.find(
                    FileRecord.status == FileStatus.PENDING,
                    FileRecord.created_at < created_before,
                    FileRecord.upload_expires_at <= urls_expired_by,
                )
                .sort([("created_at", SortDirection.ASCENDING)])
                .limit(limit)
                .to_list()
            )

    async def known_upload_ids(self, upload_ids: list[str]) -> set[str]:
        if not upload_ids:
            return set()
        with _reachable():
            records = await FileRecord.find({"upload_id": {"$in": upload_ids}}).to_list()
        return {r.upload_id for r in records if r.upload_id is not None}

    async def by_ids(self, file_ids: list[UUID]) -> dict[UUID, FileRecord]:
        if not file_ids:
            return {}
        with _reachable():
            records = await FileRecord.find({"_id": {"$in": file_ids}}).to_list()
        return {r.id: r for r in records}
