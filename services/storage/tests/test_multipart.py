import os
from typing import Any

import httpx

from storage.service import FileService
from storage.settings import MIB

PART = 5 * MIB


async def _start(
    api: httpx.AsyncClient, user: dict[str, str], size: int, part_size: int | None = PART
) -> dict[str, Any]:
    body: dict[str, Any] = {"filename": "video.bin", "content_type": "video/mp4", "size": size}
    if part_size is not None:
        body["part_size"] = part_size
    response = await api.post("/multipart", json=body, headers=user)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def _upload_parts(
    s3_http: httpx.AsyncClient, ticket: dict[str, Any], data: bytes
) -> list[dict[str, Any]]:
    size = ticket["part_size"]
    done = []
    for part in ticket["parts"]:
        n = part["part_number"]
        response = await s3_http.put(part["url"], content=data[(n - 1) * size : n * size])
        assert response.status_code == 200, response.text
        done.append({"part_number": n, "etag": response.headers["etag"]})
    return done


async def test_multipart_upload_through_presigned_urls_downloads_the_same_bytes(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(2 * PART + 1234)
    ticket = await _start(api, alice, len(data))
    assert ticket["part_size"] == PART
    assert [p["part_number"] for p in ticket["parts"]] == [1, 2, 3]
    assert [p["size"] for p in ticket["parts"]] == [PART, PART, 1234]

    parts = await _upload_parts(s3_http, ticket, data)
    done = await api.post(
        f"/multipart/{ticket['file_id']}/complete", json={"parts": parts}, headers=alice
    )

    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready"
    assert done.json()["size"] == len(data)
    link = await api.get(f"/files/{ticket['file_id']}/download", headers=alice)
    download = await s3_http.get(link.json()["url"])
    assert download.content == data
    assert download.headers["content-type"] == "video/mp4"


async def test_part_of_another_length_is_refused_by_the_signature(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, PART + 10)

    longer = await s3_http.put(ticket["parts"][1]["url"], content=b"x" * 11)
    shorter = await s3_http.put(ticket["parts"][0]["url"], content=b"x" * 10)

    assert longer.status_code == shorter.status_code == 403


async def test_part_size_is_computed_from_the_size_when_not_given(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 40 * MIB, part_size=None)

    assert ticket["part_size"] == files.settings.default_part_size_bytes
    assert len(ticket["parts"]) == -(-40 * MIB // ticket["part_size"])
    await api.delete(f"/multipart/{ticket['file_id']}", headers=alice)


async def test_aborted_upload_is_gone_with_its_parts(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(1000)
    ticket = await _start(api, alice, len(data))
    await _upload_parts(s3_http, ticket, data)
    record = await files.files.get(ticket["file_id"])
    assert record is not None

    aborted = await api.delete(f"/multipart/{ticket['file_id']}", headers=alice)

    assert aborted.status_code == 204
    assert (await api.get(f"/files/{ticket['file_id']}", headers=alice)).status_code == 404
    pending = await files.store.pending_multipart(record.object_key)
    assert ticket["upload_id"] not in {u.upload_id for u in pending}
    late = await s3_http.put(ticket["parts"][0]["url"], content=data)
    assert late.status_code == 404


async def test_missing_parts_are_refused_and_the_upload_can_still_complete(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(PART + 10)
    ticket = await _start(api, alice, len(data))
    parts = await _upload_parts(s3_http, ticket, data)

    partial = await api.post(
        f"/multipart/{ticket['file_id']}/complete", json={"parts": parts[:1]}, headers=alice
    )

    assert partial.status_code == 422
    assert partial.json()["code"] == "missing_parts"
    assert (await api.get(f"/files/{ticket['file_id']}", headers=alice)).json()["status"] == (
        "pending"
    )
    full = await api.post(
        f"/multipart/{ticket['file_id']}/complete", json={"parts": parts}, headers=alice
    )
    assert full.status_code == 200


async def test_listed_but_never_uploaded_part_is_refused(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(PART + 10)
    ticket = await _start(api, alice, len(data))
    first = await s3_http.put(ticket["parts"][0]["url"], content=data[:PART])
    parts = [
        {"part_number": 1, "etag": first.headers["etag"]},
        {"part_number": 2, "etag": first.headers["etag"]},
    ]

    done = await api.post(
        f"/multipart/{ticket['file_id']}/complete", json={"parts": parts}, headers=alice
    )

    assert done.status_code == 422
    assert done.json()["code"] == "missing_parts"


async def test_parts_of_another_upload_are_refused(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    mine = await _start(api, alice, 1000)
    other = await _start(api, alice, 1000)
    await _upload_parts(s3_http, mine, os.urandom(1000))
    foreign = await _upload_parts(s3_http, other, os.urandom(1000))

    done = await api.post(
        f"/multipart/{mine['file_id']}/complete", json={"parts": foreign}, headers=alice
    )

    assert done.status_code == 422
    assert done.json()["code"] == "invalid_parts"
    assert (await api.get(f"/files/{mine['file_id']}", headers=alice)).json()["status"] == "pending"


async def test_part_numbers_outside_the_upload_or_repeated_are_refused(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    ticket = await _start(api, alice, 1000)
    url = f"/multipart/{ticket['file_id']}/complete"

    outside = await api.post(url, json={"parts": [{"part_number": 2, "etag": "x"}]}, headers=alice)
    repeated = await api.post(
        url,
        json={"parts": [{"part_number": 1, "etag": "x"}, {"part_number": 1, "etag": "x"}]},
        headers=alice,
    )

    assert outside.json()["code"] == "invalid_parts"
    assert repeated.json()["code"] == "invalid_parts"


async def test_completing_a_multipart_upload_twice_is_a_conflict(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    ticket = await _start(api, alice, 100)
    parts = await _upload_parts(s3_http, ticket, os.urandom(100))
    url = f"/multipart/{ticket['file_id']}/complete"
    first = await api.post(url, json={"parts": parts}, headers=alice)

    second = await api.post(url, json={"parts": parts}, headers=alice)
    abort = await api.delete(f"/multipart/{ticket['file_id']}", headers=alice)

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "already_completed"
    assert abort.json()["code"] == "already_completed"


async def test_upload_kinds_are_completed_only_under_their_own_route(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    multipart = await _start(api, alice, 100)
    single = await api.post(
        "/uploads",
        json={"filename": "a.txt", "content_type": "text/plain", "size": 1},
        headers=alice,
    )

    as_single = await api.post(f"/uploads/{multipart['file_id']}/complete", headers=alice)
    as_multi = await api.post(
        f"/multipart/{single.json()['file_id']}/complete", json={"parts": []}, headers=alice
    )

    assert as_single.json()["code"] == "wrong_upload_kind"
    assert as_multi.json()["code"] == "wrong_upload_kind"


async def test_part_urls_cannot_change_a_completed_multipart_file(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(PART + 100)
    ticket = await _start(api, alice, len(data))
    parts = await _upload_parts(s3_http, ticket, data)
    done = await api.post(
        f"/multipart/{ticket['file_id']}/complete", json={"parts": parts}, headers=alice
    )
    assert done.status_code == 200, done.text
    url = ticket["parts"][1]["url"]
    path, query = url.split("?", 1)
    without_upload = "&".join(
        p for p in query.split("&") if not p.startswith(("uploadId=", "partNumber="))
    )

    # S3 refuses parts of a completed upload, and the signature covers the upload id.
    again = await s3_http.put(url, content=os.urandom(100))
    plain_put = await s3_http.put(f"{path}?{without_upload}", content=os.urandom(100))

    assert again.status_code == 404
    assert "NoSuchUpload" in again.text
    assert plain_put.status_code == 403
    link = await api.get(f"/files/{ticket['file_id']}/download", headers=alice)
    assert (await s3_http.get(link.json()["url"])).content == data
    file = (await api.get(f"/files/{ticket['file_id']}", headers=alice)).json()
    assert file == done.json()
    # No SHA-256 for multipart: S3's ETag of the assembled object (MD5 of part MD5s, -count).
    assert file["checksum_sha256"] is None
    assert file["etag"].endswith("-2")
