"""Sealing a single upload: the verified staging object becomes a copy no URL can write.

The staging object stays writable as long as its presigned URL lives (up to 7 days), so
completion copies it, server-side and only if it still has the ETag that was checked, to a key
of its own, then hashes that copy. What a download serves is that copy, so it is exactly what
was hashed, whatever is PUT to the upload URL afterwards.

Cost: the copy happens inside S3; the hash reads the object once (streamed in 1 MiB chunks in a
worker thread), so completing an upload of N bytes transfers N bytes from S3 to the service.
"""

import logging
from dataclasses import dataclass

from storage.errors import ContentTypeMismatchError, SizeMismatchError, StorageUnavailableError
from storage.models import FileRecord
from storage.object_keys import sealed_key
from storage.object_store import ObjectDigest, ObjectStore

logger = logging.getLogger("storage.sealing")


@dataclass(frozen=True, slots=True)
class SealedObject:
    key: str
    digest: ObjectDigest


def _same_media_type(stored: str | None, declared: str) -> bool:
    # The signature fixes the header, but whitespace is normalized when it is signed.
    return stored is not None and " ".join(stored.split()) == " ".join(declared.split())


async def seal_upload(store: ObjectStore, record: FileRecord, staged: str) -> SealedObject:
    """Check the staged object against the declaration, copy it to a fresh key and hash the copy.

    Raises `ObjectNotFoundError` (nothing staged), `ObjectChangedError` (rewritten while checked),
    `SizeMismatchError` or `ContentTypeMismatchError`; on failure no copy is left behind.
    """
    info = await store.stat(staged)
    if info.size != record.size:
        raise SizeMismatchError(f"Uploaded {info.size} bytes, declared {record.size}.")
    if not _same_media_type(info.content_type, record.content_type):
        raise ContentTypeMismatchError(
            f"Uploaded as {info.content_type or 'no content type'}, declared {record.content_type}."
        )
    target = sealed_key(record.id)
    await store.copy(staged, target, if_etag=info.etag)
    try:
        digest = await store.digest(target)
        if digest.size != record.size:
            # The copy was conditional on the checked ETag: this is S3 disagreeing with itself.
            raise SizeMismatchError(f"Copied {digest.size} bytes, declared {record.size}.")
    except BaseException:
        await discard_copy(store, target)
        raise
    return SealedObject(target, digest)


async def discard_copy(store: ObjectStore, key: str) -> None:
    """Remove a copy no record points at; the cleanup's sweep catches it if this fails."""
    try:
        await store.remove(key)
    except StorageUnavailableError:
        logger.warning("could not remove unused copy %s; the cleanup will", key)
