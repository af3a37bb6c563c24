"""A ready file's bytes never change: single uploads are sealed into a copy no URL can write."""

import asyncio
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from storage.cleanup import cleanup_stale_uploads
from storage.models import FileRecord, FileStatus
from storage.object_keys import OBJECT_PREFIX, SEALED_PREFIX, STAGING_PREFIX
from storage.object_store import ObjectChangedError, ObjectNotFoundError
from storage.service import FileService
from storage.settings import MIB


async def _start(api: httpx.AsyncClient, user: dict[str, str], size: int) -> dict[str, Any]:
    body = {"filename": "a.txt", "content_type": "text/plain; charset=utf-8", "size": size}
    response = await api.post("/uploads", json=body, headers=user)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def _record(files: FileService, file_id: str) -> FileRecord:
    record = await files.files.get(file_id)  # type: ignore[arg-type]
    assert record is not None
    return record


async def _sealed_keys(files: FileService, file_id: str) -> list[str]:
    future = datetime.now(UTC) + timedelta(days=1)
    return await files.store.keys_older_than(f"{SEALED_PREFIX}{file_id}/", future)


async def test_the_upload_url_writes_a_staging_key_and_completion_serves_a_sealed_copy(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(1000)
    ticket = await _start(api, alice, len(data))
    assert f"/{STAGING_PREFIX}{ticket['file_id']}?" in ticket["upload_url"]
    await s3_http.put(ticket["upload_url"], content=data, headers=ticket["headers"])

    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)

    assert done.status_code == 200, done.text
    assert done.json()["checksum_sha256"] == hashlib.sha256(data).hexdigest()
    assert done.json()["etag"] == hashlib.md5(data).hexdigest()  # noqa: S324 - S3's single-PUT ETag
    record = await _record(files, ticket["file_id"])
    assert record.object_key.startswith(f"{SEALED_PREFIX}{ticket['file_id']}/")
    assert await _sealed_keys(files, ticket["file_id"]) == [record.object_key]
    with pytest.raises(ObjectNotFoundError):
        await files.store.stat(f"{STAGING_PREFIX}{ticket['file_id']}")
    link = (await api.get(f"/files/{ticket['file_id']}/download", headers=alice)).json()
    assert f"/{record.object_key}?" in link["url"]
    download = await s3_http.get(link["url"])
    assert download.content == data
    assert download.headers["content-type"] == "text/plain; charset=utf-8"


async def test_a_pending_file_has_no_checksum_yet(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 3)

    file = (await api.get(f"/files/{ticket['file_id']}", headers=alice)).json()

    assert file["checksum_sha256"] is None
    assert file["etag"] is None


async def test_staged_object_of_another_content_type_is_refused(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 5)
    record = await _record(files, ticket["file_id"])
    assert record.staging_key is not None
    # An S3 that does not check signed headers would store what the client sent.
    await asyncio.to_thread(
        files.store.client.put_object,
        record.bucket,
        record.staging_key,
        io.BytesIO(b"<b/>!"),
        5,
        content_type="text/html",
    )

    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)

    assert done.status_code == 409
    assert done.json()["code"] == "content_type_mismatch"
    assert (await _record(files, ticket["file_id"])).status is FileStatus.PENDING
    assert await _sealed_keys(files, ticket["file_id"]) == []


async def test_concurrent_completions_racing_rewrites_serve_exactly_the_checksummed_bytes(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    size = 256 * 1024
    ticket = await _start(api, alice, size)
    await s3_http.put(ticket["upload_url"], content=os.urandom(size), headers=ticket["headers"])
    complete = f"/uploads/{ticket['file_id']}/complete"

    answers = await asyncio.gather(
        *(api.post(complete, headers=alice) for _ in range(4)),
        *(
            s3_http.put(ticket["upload_url"], content=os.urandom(size), headers=ticket["headers"])
            for _ in range(4)
        ),
    )

    completions = [a.status_code for a in answers[:4]]
    assert completions.count(200) == 1, [a.text for a in answers[:4]]
    assert set(completions) <= {200, 409}
    file = (await api.get(f"/files/{ticket['file_id']}", headers=alice)).json()
    link = (await api.get(f"/files/{ticket['file_id']}/download", headers=alice)).json()
    served = (await s3_http.get(link["url"])).content
    assert hashlib.sha256(served).hexdigest() == file["checksum_sha256"]
    # Losing attempts removed their copies: only the one the record serves is left.
    record = await _record(files, ticket["file_id"])
    assert await _sealed_keys(files, ticket["file_id"]) == [record.object_key]


async def test_copy_refuses_a_source_whose_etag_changed(files: FileService) -> None:
    source = f"{STAGING_PREFIX}etag-check"
    await asyncio.to_thread(
        files.store.client.put_object, files.store.bucket, source, io.BytesIO(b"abc"), 3
    )
    info = await files.store.stat(source)
    await asyncio.to_thread(
        files.store.client.put_object, files.store.bucket, source, io.BytesIO(b"xyz"), 3
    )

    with pytest.raises(ObjectChangedError):
        await files.store.copy(source, f"{SEALED_PREFIX}etag-check", if_etag=info.etag)

    with pytest.raises(ObjectNotFoundError):
        await files.store.stat(f"{SEALED_PREFIX}etag-check")


async def test_digest_streams_the_object_and_hashes_it(files: FileService) -> None:
    data = os.urandom(3 * MIB + 17)
    key = f"{SEALED_PREFIX}digest-check"
    await asyncio.to_thread(
        files.store.client.put_object, files.store.bucket, key, io.BytesIO(data), len(data)
    )

    digest = await files.store.digest(key)

    assert digest.size == len(data)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()


async def _legacy_single_upload(
    files: FileService, *, status: FileStatus, data: bytes
) -> tuple[FileRecord, str]:
    """A record as single uploads stored them before staging keys, and its upload URL."""
    now = datetime.now(UTC)
    record = FileRecord(
        owner_id="legacy",
        bucket=files.store.bucket,
        object_key="",
        filename="old.txt",
        content_type="text/plain",
        size=len(data),
        status=status,
        created_at=now,
        upload_expires_at=now + timedelta(days=7),
        completed_at=now if status is FileStatus.READY else None,
    )
    record.object_key = f"{OBJECT_PREFIX}{record.id}"
    await files.files.add(record)
    # Stored before these fields existed.
    await FileRecord.find_one(FileRecord.id == record.id).update(
        {"$unset": {"staging_key": "", "etag": "", "checksum_sha256": ""}}
    )
    url = files.store.presign_put(
        record.object_key, "text/plain", len(data), expires_seconds=600, now=now
    )
    return record, url


async def test_a_file_made_ready_before_staging_keys_still_downloads(
    api: httpx.AsyncClient, files: FileService, admin: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = b"legacy bytes"
    record, url = await _legacy_single_upload(files, status=FileStatus.READY, data=data)
    await s3_http.put(url, content=data, headers={"Content-Type": "text/plain"})

    file = (await api.get(f"/files/{record.id}", headers=admin)).json()
    link = (await api.get(f"/files/{record.id}/download", headers=admin)).json()

    assert file["status"] == "ready"
    assert file["checksum_sha256"] is None
    assert (await s3_http.get(link["url"])).content == data


async def test_the_cleanup_seals_a_file_from_before_staging_keys_while_its_url_is_valid(
    api: httpx.AsyncClient, files: FileService, admin: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = b"ready from before"
    record, url = await _legacy_single_upload(files, status=FileStatus.READY, data=data)
    await s3_http.put(url, content=data, headers={"Content-Type": "text/plain"})

    report = await cleanup_stale_uploads(files.files, files.store, older_than=timedelta(0))
    rewrite = await s3_http.put(
        url, content=b"X" * len(data), headers={"Content-Type": "text/plain"}
    )

    assert report.legacy_files_sealed >= 1
    assert rewrite.status_code == 200
    sealed = await _record(files, str(record.id))
    assert sealed.object_key.startswith(f"{SEALED_PREFIX}{record.id}/")
    assert sealed.checksum_sha256 == hashlib.sha256(data).hexdigest()
    link = (await api.get(f"/files/{record.id}/download", headers=admin)).json()
    assert (await s3_http.get(link["url"])).content == data
    again = await cleanup_stale_uploads(files.files, files.store, older_than=timedelta(0))
    assert (await _record(files, str(record.id))).object_key == sealed.object_key
    assert again.orphan_objects_removed >= 1  # the old key, written again after sealing
    with pytest.raises(ObjectNotFoundError):
        await files.store.stat(f"{OBJECT_PREFIX}{record.id}")


async def test_a_single_upload_started_before_staging_keys_is_sealed_on_completion(
    api: httpx.AsyncClient, files: FileService, admin: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = b"pending from before"
    record, url = await _legacy_single_upload(files, status=FileStatus.PENDING, data=data)
    await s3_http.put(url, content=data, headers={"Content-Type": "text/plain"})

    done = await api.post(f"/uploads/{record.id}/complete", headers=admin)
    rewrite = await s3_http.put(
        url, content=b"X" * len(data), headers={"Content-Type": "text/plain"}
    )

    assert done.status_code == 200, done.text
    assert done.json()["checksum_sha256"] == hashlib.sha256(data).hexdigest()
    assert rewrite.status_code == 200
    link = (await api.get(f"/files/{record.id}/download", headers=admin)).json()
    assert (await s3_http.get(link["url"])).content == data
    assert (await _record(files, str(record.id))).object_key.startswith(SEALED_PREFIX)
