"""storage through the gateway, like a client: presigned uploads, downloads and ownership."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from testkit.accounts import Accounts
from testkit.polling import eventually

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@pytest.fixture
def http_timeout() -> float:
    return 30


@pytest.fixture
async def storage_role(accounts: Accounts) -> str:
    return await accounts.role("storage:*")


@pytest.fixture
async def alice(accounts: Accounts, storage_role: str) -> httpx.AsyncClient:
    return (await accounts.signed_in(storage_role)).http


@pytest.fixture
async def bob(accounts: Accounts, storage_role: str) -> httpx.AsyncClient:
    return (await accounts.signed_in(storage_role)).http


@pytest.fixture
async def s3() -> AsyncIterator[httpx.AsyncClient]:
    """The client's own HTTP client for presigned URLs (no gateway token involved)."""
    async with httpx.AsyncClient(timeout=60) as http:
        yield http


async def _ready_file(
    user: httpx.AsyncClient, s3: httpx.AsyncClient, data: bytes, filename: str = "hello.txt"
) -> dict[str, Any]:
    body = {"filename": filename, "content_type": "text/plain", "size": len(data)}
    ticket = await user.post("/storage/uploads", json=body)
    assert ticket.status_code == 201, ticket.text
    put = await s3.put(ticket.json()["upload_url"], content=data, headers=ticket.json()["headers"])
    assert put.status_code == 200, put.text
    done = await user.post(f"/storage/uploads/{ticket.json()['file_id']}/complete")
    assert done.status_code == 200, done.text
    file: dict[str, Any] = done.json()
    return file


async def test_single_upload_and_download_through_presigned_urls(
    alice: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    data = os.urandom(64 * 1024)
    file = await _ready_file(alice, s3, data, filename="données.bin")

    link = await alice.get(f"/storage/files/{file['id']}/download")
    downloaded = await s3.get(link.json()["url"])

    assert file["status"] == "ready"
    assert file["size"] == len(data)
    assert downloaded.content == data
    assert "filename*=UTF-8''donn%C3%A9es.bin" in downloaded.headers["content-disposition"]


async def test_multipart_upload_through_presigned_urls(
    alice: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    data = os.urandom(5 * MIB + 321)
    body = {"filename": "big.bin", "content_type": "application/octet-stream", "size": len(data)}
    ticket = (await alice.post("/storage/multipart", json={**body, "part_size": 5 * MIB})).json()
    parts = []
    for part in ticket["parts"]:
        n = part["part_number"]
        sent = await s3.put(part["url"], content=data[(n - 1) * 5 * MIB : n * 5 * MIB])
        assert sent.status_code == 200, sent.text
        parts.append({"part_number": n, "etag": sent.headers["etag"]})

    done = await alice.post(
        f"/storage/multipart/{ticket['file_id']}/complete", json={"parts": parts}
    )
    link = await alice.get(f"/storage/files/{ticket['file_id']}/download")

    assert done.status_code == 200, done.text
    assert done.json()["size"] == len(data)
    assert (await s3.get(link.json()["url"])).content == data


async def test_users_see_only_their_own_files_and_admins_see_all(
    alice: httpx.AsyncClient,
    bob: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    s3: httpx.AsyncClient,
) -> None:
    file = await _ready_file(alice, s3, b"alice's")

    by_bob = await bob.get(f"/storage/files/{file['id']}")
    bobs_list = await bob.get("/storage/files")
    bobs_delete = await bob.delete(f"/storage/files/{file['id']}")
    by_admin = await admin.get(f"/storage/files/{file['id']}")

    assert by_bob.status_code == 404
    assert by_bob.json()["code"] == "file_not_found"
    assert file["id"] not in {f["id"] for f in bobs_list.json()["items"]}
    assert bobs_delete.status_code == 404
    assert by_admin.status_code == 200
    assert (await alice.delete(f"/storage/files/{file['id']}")).status_code == 204


async def test_user_without_a_storage_permission_is_forbidden_at_the_gateway(
    accounts: Accounts,
) -> None:
    user = await accounts.signed_in()
    response = await user.http.get("/storage/files")

    assert response.status_code == 403


async def test_storage_requires_a_token(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/storage/uploads", json={"filename": "a", "content_type": "text/plain", "size": 1}
    )

    assert response.status_code == 401


async def test_expiry_over_seven_days_is_refused(alice: httpx.AsyncClient) -> None:
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 1}

    response = await alice.post("/storage/uploads", json={**body, "expires_in": 604801})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_expiry"


async def test_bucket_usage_is_for_admins(
    alice: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    by_admin = await admin.get("/storage/buckets")
    by_user = await alice.get("/storage/buckets")

    assert by_admin.status_code == 200
    assert {"name", "object_count", "total_size"} <= set(by_admin.json()["items"][0])
    assert by_user.status_code == 403


async def test_scheduled_cleanup_removes_an_abandoned_upload(
    admin: httpx.AsyncClient, alice: httpx.AsyncClient
) -> None:
    body = {"filename": "abandoned.txt", "content_type": "text/plain", "size": 3, "expires_in": 1}
    ticket = (await alice.post("/storage/uploads", json=body)).json()
    # The cleanup leaves uploads alone while their URL can still be used.
    await asyncio.sleep(1.5)
    task = await admin.post(
        "/scheduler/periodic-tasks",
        json={
            "name": f"e2e-cleanup-{uuid.uuid4().hex[:8]}",
            "task": "storage.cleanup_stale_uploads",
            "schedule": {"type": "interval", "every": 1, "period": "days"},
            "kwargs": {"older_than_seconds": 0},
            "enabled": False,
        },
    )
    assert task.status_code == 201, task.text

    started = await admin.post(f"/scheduler/periodic-tasks/{task.json()['id']}/run")
    run = await _finished_run(admin, started.json()["task_id"])

    assert run["state"] == "SUCCESS", run
    assert run["result"]["files_removed"] >= 1
    assert (await alice.get(f"/storage/files/{ticket['file_id']}")).status_code == 404
    await admin.delete(f"/scheduler/periodic-tasks/{task.json()['id']}")


async def test_the_mesh_schedules_the_stale_upload_cleanup_hourly(
    admin: httpx.AsyncClient,
) -> None:
    listed = await admin.get("/scheduler/periodic-tasks", params={"limit": 100})
    assert listed.status_code == 200, listed.text

    [cleanup] = [t for t in listed.json()["items"] if t["name"] == "storage: remove stale uploads"]
    assert cleanup["task"] == "storage.cleanup_stale_uploads"
    assert cleanup["enabled"] is True
    assert cleanup["schedule"] == {"type": "interval", "every": 3600, "period": "seconds"}


async def _finished_run(admin: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    def finished(response: httpx.Response) -> bool:
        return response.status_code == 200 and response.json()["state"] in ("SUCCESS", "FAILURE")

    response = await eventually(
        lambda: admin.get(f"/scheduler/runs/{task_id}"), finished, timeout=30.0, interval=0.25
    )
    run: dict[str, Any] = response.json()
    return run
