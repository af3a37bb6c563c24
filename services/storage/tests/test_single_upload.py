import asyncio
import hashlib
import io
import os
from typing import Any

import httpx
import pytest

from storage.models import FileStatus
from storage.service import FileService


async def _start(
    api: httpx.AsyncClient,
    user: dict[str, str],
    size: int,
    content_type: str = "text/plain",
    filename: str = "notes été.txt",
) -> dict[str, Any]:
    response = await api.post(
        "/uploads",
        json={"filename": filename, "content_type": content_type, "size": size},
        headers=user,
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def test_single_upload_through_presigned_url_downloads_the_same_bytes(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(100_000)
    ticket = await _start(api, alice, len(data))
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == {"Content-Type": "text/plain"}

    put = await s3_http.put(ticket["upload_url"], content=data, headers=ticket["headers"])
    assert put.status_code == 200, put.text
    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready"
    assert done.json()["size"] == len(data)
    assert done.json()["completed_at"] is not None

    link = await api.get(f"/files/{ticket['file_id']}/download", headers=alice)
    assert link.status_code == 200, link.text
    download = await s3_http.get(link.json()["url"])
    assert download.status_code == 200
    assert download.content == data
    assert "filename*=UTF-8''notes%20%C3%A9t%C3%A9.txt" in download.headers["content-disposition"]
    assert download.headers["content-type"] == "text/plain"


async def test_upload_with_another_content_type_is_refused_by_the_signature(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, 5, content_type="text/plain")

    put = await s3_http.put(
        ticket["upload_url"], content=b"<b/>!", headers={"Content-Type": "text/html"}
    )

    assert put.status_code == 403
    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    assert done.json()["code"] == "object_missing"


async def test_presigned_url_is_signed_for_the_public_endpoint(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 5)

    assert ticket["upload_url"].startswith(files.settings.public_endpoint + "/")
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in ticket["upload_url"]


async def test_completing_before_uploading_is_a_conflict_and_keeps_the_file_pending(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 10)

    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)

    assert done.status_code == 409
    assert done.headers["content-type"] == "application/problem+json"
    assert done.json()["code"] == "object_missing"
    file = await api.get(f"/files/{ticket['file_id']}", headers=alice)
    assert file.json()["status"] == FileStatus.PENDING


@pytest.mark.parametrize("body", [b"too short", b"far too long!"])
async def test_upload_of_another_length_is_refused_by_the_signature(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient, body: bytes
) -> None:
    ticket = await _start(api, alice, 10)

    put = await s3_http.put(ticket["upload_url"], content=body, headers=ticket["headers"])

    assert put.status_code == 403
    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    assert done.json()["code"] == "object_missing"


async def test_stored_object_of_another_size_is_refused_and_can_be_replaced(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, 10)
    record = await files.files.get(ticket["file_id"])
    assert record is not None
    # An S3 that does not check signed lengths would store what the client sent.
    await asyncio.to_thread(
        files.store.client.put_object, record.bucket, record.object_key, io.BytesIO(b"short"), 5
    )

    wrong = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)

    assert wrong.status_code == 409
    assert wrong.json()["code"] == "size_mismatch"
    pending = await api.get(f"/files/{ticket['file_id']}", headers=alice)
    assert pending.json()["status"] == "pending"
    await s3_http.put(ticket["upload_url"], content=b"0123456789", headers=ticket["headers"])
    right = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    assert right.status_code == 200
    assert right.json()["status"] == "ready"


async def test_completing_twice_is_a_conflict(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, 3)
    await s3_http.put(ticket["upload_url"], content=b"abc", headers=ticket["headers"])
    first = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)

    second = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "already_completed"
    file = await api.get(f"/files/{ticket['file_id']}", headers=alice)
    assert file.json()["completed_at"] == first.json()["completed_at"]


async def test_download_of_a_pending_file_is_refused(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 3)

    link = await api.get(f"/files/{ticket['file_id']}/download", headers=alice)

    assert link.status_code == 409
    assert link.json()["code"] == "file_not_ready"


async def test_deleting_a_file_removes_its_object_and_metadata(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, 3)
    await s3_http.put(ticket["upload_url"], content=b"abc", headers=ticket["headers"])
    await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    link = (await api.get(f"/files/{ticket['file_id']}/download", headers=alice)).json()

    deleted = await api.delete(f"/files/{ticket['file_id']}", headers=alice)

    assert deleted.status_code == 204
    assert (await api.get(f"/files/{ticket['file_id']}", headers=alice)).status_code == 404
    assert (await s3_http.get(link["url"])).status_code == 404
    again = await api.delete(f"/files/{ticket['file_id']}", headers=alice)
    assert again.json()["code"] == "file_not_found"


async def test_concurrent_completions_make_the_file_ready_once(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, 3)
    await s3_http.put(ticket["upload_url"], content=b"abc", headers=ticket["headers"])
    url = f"/uploads/{ticket['file_id']}/complete"

    answers = await asyncio.gather(*(api.post(url, headers=alice) for _ in range(4)))

    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]


async def test_putting_to_the_upload_url_again_after_completion_does_not_change_the_file(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(4096)
    ticket = await _start(api, alice, len(data))
    await s3_http.put(ticket["upload_url"], content=data, headers=ticket["headers"])
    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    assert done.status_code == 200, done.text

    # The URL stays valid until it expires: S3 accepts the bytes, but nothing serves them.
    rewrite = await s3_http.put(
        ticket["upload_url"], content=os.urandom(len(data)), headers=ticket["headers"]
    )

    assert rewrite.status_code == 200
    link = await api.get(f"/files/{ticket['file_id']}/download", headers=alice)
    assert (await s3_http.get(link.json()["url"])).content == data
    file = (await api.get(f"/files/{ticket['file_id']}", headers=alice)).json()
    assert file["size"] == len(data)
    assert file["checksum_sha256"] == hashlib.sha256(data).hexdigest()
    assert file == done.json()
