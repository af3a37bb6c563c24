"""Upload a file and download it again: bytes go straight to S3 through presigned URLs.

    uv run python examples/upload_and_download.py

A small file in one PUT, then a larger one in parts (multipart). Gateway and admin password as
in login_and_call.py.
"""

import asyncio
import os
from pathlib import Path

import httpx

from testkit.auth_client import login

REPO = Path(__file__).resolve().parent.parent
GATEWAY = os.environ.get("MESH_URL", "http://127.0.0.1:8000")
STATE_DIR = Path(os.environ.get("MESH_STATE_DIR", REPO / ".mesh"))
USERNAME = os.environ.get("ADMIN_USERNAME", "admin")
PASSWORD = os.environ.get("ADMIN_PASSWORD") or (STATE_DIR / "admin-password").read_text().strip()
MIB = 1024 * 1024


async def upload_single(api: httpx.AsyncClient, s3: httpx.AsyncClient, data: bytes) -> str:
    body = {"filename": "hello.txt", "content_type": "text/plain", "size": len(data)}
    ticket = (await api.post("/storage/uploads", json=body)).raise_for_status().json()
    # The URL signs the content type and the exact length: send the headers it came with.
    (await s3.put(ticket["upload_url"], content=data, headers=ticket["headers"])).raise_for_status()
    done = await api.post(f"/storage/uploads/{ticket['file_id']}/complete")
    return str(done.raise_for_status().json()["id"])


async def upload_multipart(api: httpx.AsyncClient, s3: httpx.AsyncClient, data: bytes) -> str:
    body = {"filename": "big.bin", "content_type": "application/octet-stream", "size": len(data)}
    ticket = (await api.post("/storage/multipart", json={**body, "part_size": 5 * MIB})).json()
    parts, offset = [], 0
    for part in ticket["parts"]:  # each part has its number, its exact size and its URL
        chunk = data[offset : offset + part["size"]]
        offset += part["size"]
        sent = (await s3.put(part["url"], content=chunk)).raise_for_status()
        parts.append({"part_number": part["part_number"], "etag": sent.headers["etag"]})
    done = await api.post(f"/storage/multipart/{ticket['file_id']}/complete", json={"parts": parts})
    return str(done.raise_for_status().json()["id"])


async def download(api: httpx.AsyncClient, s3: httpx.AsyncClient, file_id: str) -> bytes:
    link = (await api.get(f"/storage/files/{file_id}/download")).raise_for_status().json()
    return (await s3.get(link["url"])).raise_for_status().content


async def main() -> None:
    async with (
        httpx.AsyncClient(base_url=GATEWAY, timeout=60) as api,
        httpx.AsyncClient(timeout=60) as s3,
    ):
        tokens = await login(api, USERNAME, PASSWORD)
        api.headers["Authorization"] = f"Bearer {tokens.access_token}"

        small = b"hello, storage\n"
        file_id = await upload_single(api, s3, small)
        if await download(api, s3, file_id) != small:
            raise SystemExit("the downloaded file differs from the uploaded one")
        print("single upload and download:", file_id, len(small), "bytes")

        big = os.urandom(11 * MIB)
        big_id = await upload_multipart(api, s3, big)
        if await download(api, s3, big_id) != big:
            raise SystemExit("the downloaded file differs from the uploaded one")
        print("multipart upload and download:", big_id, len(big), "bytes")

        for done in (file_id, big_id):
            (await api.delete(f"/storage/files/{done}")).raise_for_status()


asyncio.run(main())
