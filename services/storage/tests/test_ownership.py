import uuid
from typing import Any

import httpx
import pytest

from common.redis_client import create_redis
from common.revocation import session_key
from testkit.tokens import TokenSigner


async def _ready_file(
    api: httpx.AsyncClient, user: dict[str, str], s3_http: httpx.AsyncClient
) -> dict[str, Any]:
    body = {"filename": "mine.txt", "content_type": "text/plain", "size": 4}
    ticket = (await api.post("/uploads", json=body, headers=user)).json()
    await s3_http.put(ticket["upload_url"], content=b"mine", headers=ticket["headers"])
    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=user)
    assert done.status_code == 200
    file: dict[str, Any] = done.json()
    return file


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/files/{}"),
        ("GET", "/files/{}/download"),
        ("DELETE", "/files/{}"),
        ("POST", "/uploads/{}/complete"),
    ],
)
async def test_another_users_file_looks_like_it_does_not_exist(
    api: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
    s3_http: httpx.AsyncClient,
    method: str,
    path: str,
) -> None:
    file = await _ready_file(api, alice, s3_http)

    response = await api.request(method, path.format(file["id"]), headers=bob)

    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"
    assert (await api.get(f"/files/{file['id']}", headers=alice)).status_code == 200


async def test_another_users_multipart_upload_cannot_be_completed_or_aborted(
    api: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    body = {"filename": "a.bin", "content_type": "application/octet-stream", "size": 10}
    ticket = (await api.post("/multipart", json=body, headers=alice)).json()

    complete = await api.post(
        f"/multipart/{ticket['file_id']}/complete", json={"parts": []}, headers=bob
    )
    abort = await api.delete(f"/multipart/{ticket['file_id']}", headers=bob)

    assert complete.status_code == abort.status_code == 404
    assert (await api.get(f"/files/{ticket['file_id']}", headers=alice)).status_code == 200


async def test_users_list_only_their_own_files_and_admins_list_all(
    api: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
    admin: dict[str, str],
    s3_http: httpx.AsyncClient,
) -> None:
    alices = await _ready_file(api, alice, s3_http)
    bobs = await _ready_file(api, bob, s3_http)

    seen_by_alice = (await api.get("/files", headers=alice)).json()
    seen_by_admin = (await api.get("/files", params={"limit": 200}, headers=admin)).json()

    assert [f["id"] for f in seen_by_alice["items"]] == [alices["id"]]
    assert seen_by_alice["total"] == 1
    assert alices["owner_id"] != bobs["owner_id"]
    admin_ids = {f["id"] for f in seen_by_admin["items"]}
    assert {alices["id"], bobs["id"]} <= admin_ids


async def test_list_is_paginated_newest_first(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 1}
    ids = [(await api.post("/uploads", json=body, headers=alice)).json()["file_id"] for _ in "abc"]

    first = (await api.get("/files", params={"limit": 2}, headers=alice)).json()
    rest = (await api.get("/files", params={"limit": 2, "offset": 2}, headers=alice)).json()

    assert first["total"] == rest["total"] == 3
    assert [f["id"] for f in first["items"] + rest["items"]] == ids[::-1]


async def test_admin_acts_on_any_users_file(
    api: httpx.AsyncClient, alice: dict[str, str], admin: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    file = await _ready_file(api, alice, s3_http)

    link = await api.get(f"/files/{file['id']}/download", headers=admin)
    downloaded = await s3_http.get(link.json()["url"])
    deleted = await api.delete(f"/files/{file['id']}", headers=admin)

    assert downloaded.content == b"mine"
    assert deleted.status_code == 204
    assert (await api.get(f"/files/{file['id']}", headers=alice)).status_code == 404


async def test_bucket_usage_is_for_admins_only(
    api: httpx.AsyncClient, alice: dict[str, str], admin: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    await _ready_file(api, alice, s3_http)
    before = (await api.get("/buckets", headers=admin)).json()["items"][0]
    await _ready_file(api, alice, s3_http)

    refused = await api.get("/buckets", headers=alice)
    after = await api.get("/buckets", headers=admin)

    assert refused.status_code == 403
    assert refused.json()["code"] == "admin_required"
    assert after.status_code == 200
    bucket = after.json()["items"][0]
    assert bucket["object_count"] == before["object_count"] + 1
    assert bucket["total_size"] == before["total_size"] + 4


async def test_revoked_session_is_refused(
    api: httpx.AsyncClient, redis_url: str, signer: TokenSigner
) -> None:
    session = str(uuid.uuid4())
    token = signer.token(sid=session)
    redis = create_redis(redis_url)
    try:
        await redis.set(session_key(session), "1", ex=60)
        response = await api.get("/files", headers={"Authorization": f"Bearer {token}"})
    finally:
        await redis.aclose()

    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
