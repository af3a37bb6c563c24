"""Removal of uploads that were started and never completed.

A pending file whose upload URLs have expired and that is older than the configured age can no
longer become ready: its bytes (a stray object or an unfinished multipart upload) and its metadata
are removed. Multipart uploads S3 holds without any metadata (a crash between creating the upload
and storing the record) are aborted once they are older than the same age. Objects older than
that age which no record serves are removed too: a deleted file's upload URL used again before it
expired, a ready file's staging object written again after completion, the copy of a completion
that lost a race or crashed.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import utcnow
from common.errors import DomainError
from storage.legacy_sealing import seal_legacy_files
from storage.models import FileRecord, FileStatus
from storage.object_keys import OBJECT_PREFIX, SEALED_PREFIX, STAGING_PREFIX, file_id_of
from storage.object_store import ObjectStore
from storage.repository import FileRepository
from storage.service import discard

logger = logging.getLogger("storage.cleanup")

BATCH_SIZE = 200


@dataclass(frozen=True, slots=True)
class CleanupReport:
    files_removed: int
    orphan_uploads_aborted: int
    orphan_objects_removed: int
    failures: int
    legacy_files_sealed: int = 0


async def cleanup_stale_uploads(
    files: FileRepository,
    store: ObjectStore,
    *,
    older_than: timedelta,
    now: datetime | None = None,
) -> CleanupReport:
    """Remove stale pending files, abort orphaned multipart uploads, remove objects no file
    serves and seal files from before staging keys; safe to run repeatedly."""
    now = now or utcnow()
    cutoff = now - older_than
    removed = failures = 0
    while True:
        batch = await files.stale_pending(cutoff, now, limit=BATCH_SIZE)
        batch_failures = 0
        for record in batch:
            try:
                await discard(record, files, store)
            except DomainError as exc:
                batch_failures += 1
                logger.warning("could not remove stale upload %s: %s", record.id, exc.detail)
            else:
                removed += 1
        failures += batch_failures
        # A failing record would come back in the next batch; the next run retries it.
        if len(batch) < BATCH_SIZE or batch_failures:
            break
    aborted = await _abort_orphans(files, store, cutoff)
    # Before the sweep, which then removes the keys these files are no longer served from.
    sealed = await seal_legacy_files(files, store, now=now)
    objects = await _remove_orphan_objects(files, store, cutoff)
    report = CleanupReport(removed, aborted, objects, failures, sealed)
    logger.info(
        "stale uploads cleaned",
        extra={
            "files_removed": removed,
            "orphans_aborted": aborted,
            "orphan_objects_removed": objects,
            "failures": failures,
            "legacy_files_sealed": sealed,
        },
    )
    return report


async def _abort_orphans(files: FileRepository, store: ObjectStore, cutoff: datetime) -> int:
    uploads = await store.pending_multipart(OBJECT_PREFIX)
    old = [u for u in uploads if u.initiated_at is not None and u.initiated_at < cutoff]
    known = await files.known_upload_ids([u.upload_id for u in old])
    aborted = 0
    for upload in old:
        if upload.upload_id in known:
            continue
        await store.abort_multipart(upload.key, upload.upload_id)
        aborted += 1
    return aborted


def _still_needed(key: str, record: FileRecord | None) -> bool:
    if record is None:
        return False
    if key == record.object_key:
        return True
    # A pending single upload's staging object is what `complete` will check.
    return key == record.staging_key and record.status is FileStatus.PENDING


async def _remove_orphan_objects(
    files: FileRepository, store: ObjectStore, cutoff: datetime
) -> int:
    removed = 0
    for prefix in (STAGING_PREFIX, SEALED_PREFIX, OBJECT_PREFIX):
        keys = await store.keys_older_than(prefix, cutoff)
        for start in range(0, len(keys), BATCH_SIZE):
            batch = {key: file_id_of(key) for key in keys[start : start + BATCH_SIZE]}
            records = await files.by_ids([i for i in batch.values() if i is not None])
            for key, file_id in batch.items():
                # Keys the service did not name are left alone: they are not ours to judge.
                if file_id is None or _still_needed(key, records.get(file_id)):
                    continue
                await store.remove(key)
                removed += 1
    return removed
