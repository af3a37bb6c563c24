"""Uploads, downloads and file metadata: the storage service's rules.

Object bytes never pass through here; clients move them with presigned URLs. A file is `pending`
until `complete` has checked what S3 holds, and `ready` after; a ready file's bytes never change
(see `storage.object_keys` and `storage.sealing`).
"""

import logging
from datetime import datetime, timedelta
from uuid import UUID

from redis.asyncio import Redis

from common.clock import utcnow
from common.pagination import Page, PageParams
from common.tokens import AccessClaims
from storage import upload_rules
from storage.errors import (
    AlreadyCompletedError,
    FileNotReadyError,
    InvalidPartsError,
    ObjectMissingError,
    SizeMismatchError,
    StorageUnavailableError,
    StoredFileNotFoundError,
    UploadChangedError,
    WrongUploadKindError,
)
from storage.file_events import FILE_DELETED, FILE_READY, announce_file
from storage.models import FileRecord, FileStatus, StoredPart
from storage.object_keys import multipart_key, staging_key
from storage.object_store import (
    ObjectChangedError,
    ObjectNotFoundError,
    ObjectStore,
    PartsRejectedError,
    UploadNotFoundError,
)
from storage.repository import FileRepository, ReadyObject
from storage.schemas import (
    BucketRead,
    CompletedPart,
    DownloadLink,
    FileRead,
    MultipartCreate,
    MultipartTicket,
    PartUrl,
    UploadCreate,
    UploadTicket,
)
from storage.sealing import discard_copy, seal_upload
from storage.settings import StorageSettings

logger = logging.getLogger("storage.service")


def _etag(value: str) -> str:
    return value.strip().strip('"').lower()


class FileService:
    def __init__(
        self,
        repository: FileRepository,
        store: ObjectStore,
        settings: StorageSettings,
        events: "Redis | None" = None,
    ) -> None:
        self.files = repository
        self.store = store
        self.settings = settings
        # Where file events are announced (`storage.file_events`); None: nowhere.
        self.events = events

    async def _announce(self, kind: str, record: FileRecord) -> None:
        await announce_file(
            self.events,
            kind,
            file_id=record.id,
            filename=record.filename,
            content_type=record.content_type,
            size=record.size,
            owner_id=record.owner_id,
        )

    def _check_declaration(self, request: UploadCreate, limit: int, too_large: str) -> int:
        upload_rules.check_filename(request.filename)
        upload_rules.check_content_type(request.content_type, self.settings.allowed_content_types)
        hint = " in one request; use multipart" if too_large == "use_multipart" else ""
        upload_rules.check_size(request.size, limit, too_large_code=too_large, hint=hint)
        return upload_rules.resolve_expiry(request.expires_in, self.settings)

    def _new_record(
        self, user: AccessClaims, request: UploadCreate, expires_at: datetime, *, multipart: bool
    ) -> FileRecord:
        record = FileRecord(
            owner_id=user.sub,
            bucket=self.store.bucket,
            object_key="",
            filename=request.filename,
            content_type=request.content_type,
            size=request.size,
            created_at=utcnow(),
            upload_expires_at=expires_at,
        )
        if multipart:
            record.object_key = multipart_key(record.id)
        else:
            # The sealed key is chosen at completion; until then downloads are refused anyway.
            record.staging_key = staging_key(record.id)
            record.object_key = record.staging_key
        return record

    async def _owned(self, user: AccessClaims, file_id: UUID) -> FileRecord:
        record = await self.files.get(file_id)
        if record is None or (not user.adm and record.owner_id != user.sub):
            raise StoredFileNotFoundError(f"No file {file_id}.")
        return record

    async def start_upload(self, user: AccessClaims, request: UploadCreate) -> UploadTicket:
        limit = min(self.settings.max_single_upload_bytes, self.settings.max_file_bytes)
        expires_in = self._check_declaration(request, limit, "use_multipart")
        now = utcnow()
        expires_at = now + timedelta(seconds=expires_in)
        record = self._new_record(user, request, expires_at, multipart=False)
        url = self.store.presign_put(
            record.staging_key or record.object_key,
            request.content_type,
            request.size,
            expires_seconds=expires_in,
            now=now,
        )
        await self.files.add(record)
        return UploadTicket(
            file_id=record.id,
            upload_url=url,
            headers={"Content-Type": request.content_type},
            expires_at=expires_at,
        )

    async def complete_upload(self, user: AccessClaims, file_id: UUID) -> FileRead:
        record = await self._owned(user, file_id)
        if record.is_multipart:
            raise WrongUploadKindError("This is a multipart upload; complete it under /multipart.")
        if record.status is FileStatus.READY:
            raise AlreadyCompletedError("The upload was already completed.")
        # Records from before staging keys had their URL write the object key itself.
        staged = record.staging_key or record.object_key
        try:
            sealed = await seal_upload(self.store, record, staged)
        except ObjectNotFoundError as exc:
            await self._refuse_if_completed(file_id)
            raise ObjectMissingError("No object has been uploaded for this file yet.") from exc
        except ObjectChangedError as exc:
            raise UploadChangedError(
                "The uploaded object was replaced while it was checked; complete again."
            ) from exc
        # A write that fails here may still have landed: the copy then stays for the record
        # to point at, and the cleanup removes it otherwise.
        ready = await self.files.mark_ready(
            record.id,
            utcnow(),
            [],
            ReadyObject(sealed.key, sealed.digest.etag, sealed.digest.sha256),
        )
        if ready is None:
            await discard_copy(self.store, sealed.key)
            raise AlreadyCompletedError("The upload was already completed.")
        await self._drop_staged(staged)
        await self._announce(FILE_READY, ready)
        return FileRead.of(ready)

    async def _refuse_if_completed(self, file_id: UUID) -> None:
        # A concurrent completion removes the staging object once it has sealed a copy.
        current = await self.files.get(file_id)
        if current is not None and current.status is FileStatus.READY:
            raise AlreadyCompletedError("The upload was already completed.")

    async def _drop_staged(self, key: str) -> None:
        try:
            await self.store.remove(key)
        except StorageUnavailableError:
            logger.warning("could not remove staging object %s; the cleanup will", key)

    async def start_multipart(
        self, user: AccessClaims, request: MultipartCreate
    ) -> MultipartTicket:
        expires_in = self._check_declaration(
            request, self.settings.max_file_bytes, "file_too_large"
        )
        plan = upload_rules.plan_parts(
            request.size, request.part_size, self.settings.default_part_size_bytes
        )
        now = utcnow()
        expires_at = now + timedelta(seconds=expires_in)
        record = self._new_record(user, request, expires_at, multipart=True)
        upload_id = await self.store.create_multipart(record.object_key, request.content_type)
        record.upload_id = upload_id
        record.part_size = plan.part_size
        record.part_count = plan.part_count
        parts = []
        for n in range(1, plan.part_count + 1):
            size = plan.expected_size(n, request.size)
            url = self.store.presign_part(
                record.object_key, upload_id, n, size, expires_seconds=expires_in, now=now
            )
            parts.append(PartUrl(part_number=n, size=size, url=url))
        try:
            await self.files.add(record)
        except BaseException:
            await self.store.abort_multipart(record.object_key, upload_id)
            raise
        return MultipartTicket(
            file_id=record.id,
            upload_id=upload_id,
            part_size=plan.part_size,
            parts=parts,
            expires_at=expires_at,
        )

    async def complete_multipart(
        self, user: AccessClaims, file_id: UUID, parts: list[CompletedPart]
    ) -> FileRead:
        record = await self._owned(user, file_id)
        if not record.is_multipart or record.upload_id is None:
            raise WrongUploadKindError("This is a single upload; complete it under /uploads.")
        if record.status is FileStatus.READY:
            raise AlreadyCompletedError("The upload was already completed.")
        chosen = self._check_part_list(record, parts)
        stored = await self._verify_uploaded_parts(record, record.upload_id, chosen)
        try:
            await self.store.complete_multipart(
                record.object_key, record.upload_id, [(p.part_number, p.etag) for p in stored]
            )
        except PartsRejectedError as exc:
            raise InvalidPartsError(f"Object storage rejected the parts ({exc.reason}).") from exc
        except UploadNotFoundError as exc:
            current = await self.files.get(file_id)
            if current is not None and current.status is FileStatus.READY:
                raise AlreadyCompletedError("The upload was already completed.") from exc
            raise InvalidPartsError("The multipart upload no longer exists.") from exc
        info = await self.store.stat(record.object_key)
        if info.size != record.size:
            # Parts were checked one by one above, so this is S3 disagreeing with itself:
            # nothing usable remains, and a pending record would point at a finished object.
            await self.store.remove(record.object_key)
            await self.files.delete(record.id)
            raise SizeMismatchError(f"Assembled {info.size} bytes, declared {record.size}.")
        # S3 stores no SHA-256 of a multipart object (its checksums are per part, composite):
        # the assembled object's ETag is recorded, the parts' ETags beside it.
        ready = await self.files.mark_ready(
            record.id, utcnow(), stored, ReadyObject(record.object_key, info.etag, None)
        )
        if ready is None:
            raise AlreadyCompletedError("The upload was already completed.")
        await self._announce(FILE_READY, ready)
        return FileRead.of(ready)

    def _check_part_list(self, record: FileRecord, parts: list[CompletedPart]) -> dict[int, str]:
        count = record.part_count or 0
        chosen: dict[int, str] = {}
        for part in parts:
            if not 1 <= part.part_number <= count:
                raise InvalidPartsError(
                    f"Part {part.part_number} is not part of this upload (1..{count})."
                )
            if part.part_number in chosen:
                raise InvalidPartsError(f"Part {part.part_number} is listed twice.")
            chosen[part.part_number] = _etag(part.etag)
        missing = [n for n in range(1, count + 1) if n not in chosen]
        if missing:
            shown = ", ".join(str(n) for n in missing[:10])
            raise InvalidPartsError(
                f"Missing parts: {shown}{'...' if len(missing) > 10 else ''}.", code="missing_parts"
            )
        return chosen

    async def _verify_uploaded_parts(
        self, record: FileRecord, upload_id: str, chosen: dict[int, str]
    ) -> list[StoredPart]:
        plan = upload_rules.PartPlan(record.part_size or 0, record.part_count or 0)
        try:
            uploaded = {
                p.part_number: p for p in await self.store.list_parts(record.object_key, upload_id)
            }
        except UploadNotFoundError as exc:
            raise InvalidPartsError("The multipart upload no longer exists.") from exc
        stored: list[StoredPart] = []
        for number, etag in sorted(chosen.items()):
            part = uploaded.get(number)
            if part is None:
                raise InvalidPartsError(
                    f"Part {number} has not been uploaded.", code="missing_parts"
                )
            if _etag(part.etag) != etag:
                raise InvalidPartsError(f"Part {number} does not match the uploaded part's ETag.")
            expected = plan.expected_size(number, record.size)
            if part.size is not None and part.size != expected:
                raise SizeMismatchError(
                    f"Part {number} has {part.size} bytes, expected {expected}."
                )
            stored.append(StoredPart(part_number=number, etag=etag, size=expected))
        return stored

    async def abort_multipart(self, user: AccessClaims, file_id: UUID) -> None:
        record = await self._owned(user, file_id)
        if not record.is_multipart or record.upload_id is None:
            raise WrongUploadKindError("This is a single upload; delete it under /files.")
        if record.status is FileStatus.READY:
            raise AlreadyCompletedError("The upload was completed; delete the file instead.")
        await self.store.abort_multipart(record.object_key, record.upload_id)
        await self.files.delete(record.id)

    async def page(self, user: AccessClaims, page: PageParams) -> Page[FileRead]:
        items, total = await self.files.page(None if user.adm else user.sub, page)
        return Page[FileRead](items=[FileRead.of(r) for r in items], total=total)

    async def get_file(self, user: AccessClaims, file_id: UUID) -> FileRead:
        return FileRead.of(await self._owned(user, file_id))

    async def download(
        self, user: AccessClaims, file_id: UUID, expires_in: int | None
    ) -> DownloadLink:
        seconds = upload_rules.resolve_expiry(expires_in, self.settings, location="query")
        record = await self._owned(user, file_id)
        if record.status is not FileStatus.READY:
            raise FileNotReadyError("The file has not been completed yet.")
        now = utcnow()
        url = self.store.presign_get(
            record.object_key, record.filename, expires_seconds=seconds, now=now
        )
        return DownloadLink(url=url, expires_at=now + timedelta(seconds=seconds))

    async def delete_file(self, user: AccessClaims, file_id: UUID) -> None:
        record = await self._owned(user, file_id)
        await discard(record, self.files, self.store)
        if record.status is FileStatus.READY:
            await self._announce(FILE_DELETED, record)

    async def buckets(self) -> list[BucketRead]:
        usage = await self.store.usage()
        return [
            BucketRead(
                name=usage.name, object_count=usage.object_count, total_size=usage.total_size
            )
        ]


async def discard(record: FileRecord, files: FileRepository, store: ObjectStore) -> None:
    """Remove a file's bytes (finished object or unfinished upload) and then its metadata.

    Bytes go first: if that fails the record stays, so the file is still listed and can be
    deleted again, instead of leaving an object nobody knows about.
    """
    if record.upload_id is not None and record.status is FileStatus.PENDING:
        await store.abort_multipart(record.object_key, record.upload_id)
    # The staging object too: the upload URL may have written it again after completion.
    for key in dict.fromkeys((record.object_key, record.staging_key)):
        if key is not None:
            await store.remove(key)
    await files.delete(record.id)
