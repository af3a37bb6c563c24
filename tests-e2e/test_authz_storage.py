"""A ready file never changes, through the gateway like a client (issue 14, hole 4).

The presigned upload URL stays valid after `complete` (up to 7 days): whatever is PUT to it later
must not reach what the file's downloads serve.
"""

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from testkit.accounts import Accounts

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@pytest.fixture
def http_timeout() -> float:
    return 30


@pytest.fixture
async def alice(accounts: Accounts) -> httpx.AsyncClient:
    return (await accounts.signed_in(await accounts.role("storage:*"))).http


@pytest.fixture
async def s3() -> AsyncIterator[httpx.AsyncClient]:
    """The client's own HTTP client for presigned URLs (no gateway token involved)."""
    async with httpx.AsyncClient(timeout=60) as http:
        yield http


async def _download(user: httpx.AsyncClient, s3: httpx.AsyncClient, file_id: str) -> bytes:
    link = await user.get(f"/storage/files/{file_id}/download")
    assert link.status_code == 200, link.text
    got = await s3.get(link.json()["url"])
    assert got.status_code == 200, got.text
    return got.content


async def test_a_put_to_the_upload_url_after_completion_does_not_change_the_file(
    alice: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    original = os.urandom(32 * 1024)
    body = {"filename": "contract.pdf", "content_type": "application/pdf", "size": len(original)}
    ticket: dict[str, Any] = (await alice.post("/storage/uploads", json=body)).json()
    put = await s3.put(ticket["upload_url"], content=original, headers=ticket["headers"])
    assert put.status_code == 200, put.text
    done = await alice.post(f"/storage/uploads/{ticket['file_id']}/complete")
    assert done.status_code == 200, done.text

    forged = os.urandom(len(original))
    rewrite = await s3.put(ticket["upload_url"], content=forged, headers=ticket["headers"])

    assert rewrite.status_code == 200  # the URL is still valid; what it writes is never served
    assert await _download(alice, s3, ticket["file_id"]) == original
    file = (await alice.get(f"/storage/files/{ticket['file_id']}")).json()
    assert file["size"] == len(original)
    assert file["checksum_sha256"] == hashlib.sha256(original).hexdigest()
    assert file == done.json()


async def test_a_part_url_after_completion_cannot_change_a_multipart_file(
    alice: httpx.AsyncClient, s3: httpx.AsyncClient
) -> None:
    original = os.urandom(5 * MIB + 100)
    body = {"filename": "big.bin", "content_type": "application/octet-stream"}
    ticket: dict[str, Any] = (
        await alice.post(
            "/storage/multipart", json={**body, "size": len(original), "part_size": 5 * MIB}
        )
    ).json()
    parts = []
    for part in ticket["parts"]:
        n = part["part_number"]
        sent = await s3.put(part["url"], content=original[(n - 1) * 5 * MIB : n * 5 * MIB])
        assert sent.status_code == 200, sent.text
        parts.append({"part_number": n, "etag": sent.headers["etag"]})
    done = await alice.post(
        f"/storage/multipart/{ticket['file_id']}/complete", json={"parts": parts}
    )
    assert done.status_code == 200, done.text

    rewrite = await s3.put(ticket["parts"][-1]["url"], content=os.urandom(100))

    assert rewrite.status_code == 404
    assert await _download(alice, s3, ticket["file_id"]) == original
    assert done.json()["checksum_sha256"] is None
    assert done.json()["etag"].endswith("-2")
