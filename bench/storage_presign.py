"""Storage: presigning cost, and a 1 GiB multipart upload that never touches the service.

Runs the storage service as a real uvicorn process on embedded Valkey, MongoDB-wire and SeaweedFS
servers, uploads through presigned URLs from this process, and reads the service's CPU time from
/proc (Linux) before and after each upload.

    uv run python -m bench.storage_presign
"""

import asyncio
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from jwt.algorithms import RSAAlgorithm

from bench.scale import sized
from bench.service_process import uvicorn_service
from mesh.seaweed import S3Server
from storage.presigner import Credentials, Presigner
from testkit.embedded import mongo_server, seaweed_server
from testkit.tokens import TokenSigner
from testkit.valkey import valkey_server

MIB = 1024 * 1024
GIB = 1024 * MIB
PRESIGN_ROUNDS = sized(20_000, 200)
MANY_PARTS = sized(10_000, 20)
# (object size, part size): the same part count at two sizes 16x apart, then the default parts.
UPLOADS: tuple[tuple[int, int | None], ...] = sized(
    ((64 * MIB, 8 * MIB), (GIB, 128 * MIB), (GIB, None)), ((16 * MIB, 5 * MIB),)
)
CONCURRENT_PARTS = 4


def _service_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (fields 14 and 15 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _jwks(signer: TokenSigner) -> Iterator[str]:
    """Serve the signer's public key as auth would, so the service runs its real JWKS path."""
    jwk = json.loads(RSAAlgorithm.to_jwk(signer.private_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": signer.kid, "alg": "RS256", "use": "sig"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _storage_service(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    with uvicorn_service("storage.app:create_app", {**os.environ, **env}, log=log) as (port, pid):
        yield f"http://127.0.0.1:{port}", pid


def _presign_micro() -> str:
    presigner = Presigner("http://127.0.0.1:8333", Credentials("key", "secret" * 5, "us-east-1"))
    now = datetime.now(UTC)
    rows = []
    cases = {
        "single PUT (type and length signed)": {
            "headers": {"Content-Type": "video/mp4", "Content-Length": "1048576"}
        },
        "multipart part PUT (length signed)": {
            "query": {"partNumber": "42", "uploadId": "x" * 40},
            "headers": {"Content-Length": "16777216"},
        },
        "download GET (content disposition)": {
            "query": {"response-content-disposition": 'attachment; filename="a.bin"'}
        },
    }
    for label, extra in cases.items():
        started = time.perf_counter()
        for _ in range(PRESIGN_ROUNDS):
            presigner.object_url(
                "PUT", "files", "objects/0192", expires_seconds=900, now=now, **extra
            )
        per_url = (time.perf_counter() - started) / PRESIGN_ROUNDS
        rows.append(f"| {label} | {per_url * 1e6:.1f} µs |")
    return "\n".join(rows)


async def _many_parts(http: httpx.AsyncClient, pid: int) -> tuple[float, float]:
    """Service CPU and wall time per part URL of one `POST /multipart` with 10,000 parts."""
    size = MANY_PARTS * 5 * MIB
    body = {"filename": "big.bin", "content_type": "application/octet-stream", "size": size}
    cpu = _service_cpu_seconds(pid)
    started = time.perf_counter()
    response = await http.post("/multipart", json={**body, "part_size": 5 * MIB})
    wall = time.perf_counter() - started
    cpu = _service_cpu_seconds(pid) - cpu
    response.raise_for_status()
    ticket = response.json()
    assert len(ticket["parts"]) == MANY_PARTS
    (await http.delete(f"/multipart/{ticket['file_id']}")).raise_for_status()
    return cpu / MANY_PARTS, wall / MANY_PARTS


async def _upload(
    http: httpx.AsyncClient, s3: httpx.AsyncClient, pid: int, size: int, part_size: int | None
) -> dict[str, float]:
    body: dict[str, Any] = {"filename": "big.bin", "content_type": "application/octet-stream"}
    body.update(size=size, part_size=part_size)
    cpu_start = _service_cpu_seconds(pid)
    started = time.perf_counter()
    response = await http.post("/multipart", json=body)
    response.raise_for_status()
    cpu_transfer = _service_cpu_seconds(pid)
    ticket = response.json()
    part_size = ticket["part_size"]
    chunk = os.urandom(part_size)
    limit = asyncio.Semaphore(CONCURRENT_PARTS)

    async def put(part: dict[str, Any]) -> dict[str, Any]:
        number = part["part_number"]
        length = min(part_size, size - (number - 1) * part_size)
        async with limit:
            sent = await s3.put(part["url"], content=chunk[:length])
        sent.raise_for_status()
        return {"part_number": number, "etag": sent.headers["etag"]}

    parts = await asyncio.gather(*(put(p) for p in ticket["parts"]))
    cpu_complete = _service_cpu_seconds(pid)
    done = await http.post(f"/multipart/{ticket['file_id']}/complete", json={"parts": parts})
    done.raise_for_status()
    assert done.json()["size"] == size
    wall = time.perf_counter() - started
    cpu_end = _service_cpu_seconds(pid)
    (await http.delete(f"/files/{ticket['file_id']}")).raise_for_status()
    return {
        "parts": len(parts),
        "wall": wall,
        "requests": (cpu_transfer - cpu_start) + (cpu_end - cpu_complete),
        "idle": cpu_complete - cpu_transfer,
    }


async def _measure(base_url: str, pid: int, token: str) -> tuple[tuple[float, float], list[Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as http,
        httpx.AsyncClient(timeout=300) as s3,
    ):
        (await http.get("/files")).raise_for_status()
        many = await _many_parts(http, pid)
        uploads = [(size, await _upload(http, s3, pid, size, part)) for size, part in UPLOADS]
    return many, uploads


def run() -> str:
    signer = TokenSigner()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis_url = stack.enter_context(valkey_server(root / "valkey"))
        mongo_url = stack.enter_context(mongo_server(root / "mongo"))
        s3: S3Server = stack.enter_context(seaweed_server(root / "s3"))
        jwks_url = stack.enter_context(_jwks(signer))
        env = {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": redis_url,
            "MONGO_URL": mongo_url,
            "AUTH_JWKS_URL": jwks_url,
            "S3_ENDPOINT": s3.endpoint,
            "S3_ACCESS_KEY": s3.access_key,
            "S3_SECRET_KEY": s3.secret_key,
            "S3_REGION": s3.region,
            "STORAGE_BUCKET": f"bench-{secrets.token_hex(4)}",
        }
        base_url, pid = stack.enter_context(_storage_service(env, root / "storage.log"))
        token = signer.token(adm=False)
        (per_url_cpu, per_url_wall), uploads = asyncio.run(_measure(base_url, pid, token))

    lines = [
        "### Storage: presigning and a 1 GiB upload",
        "",
        "Presigning is local HMAC work (AWS Signature V4, no round trip to S3):",
        "",
        "| presigned URL | time per URL |",
        "|---|---|",
        _presign_micro(),
        "",
        f"`POST /storage/multipart` with {MANY_PARTS:,} parts (create upload in S3, store metadata,"
        " sign every part URL, serialize the response), measured on the service process:",
        "",
        "| service CPU per part URL | wall time per part URL |",
        "|---|---|",
        f"| {per_url_cpu * 1e3:.3f} ms | {per_url_wall * 1e3:.3f} ms |",
        "",
        "Multipart uploads through presigned URLs; bytes go from the client straight to S3"
        f" ({CONCURRENT_PARTS} parts at a time), the service only starts and completes them, so"
        " its CPU time follows the number of parts, not the bytes (CPU read from /proc at"
        " 10 ms resolution; the time while the client uploads is the idle process: client"
        " heartbeats and timers):",
        "",
        "| object size | parts | wall time | throughput | service CPU: start + complete |"
        " service CPU while the client uploads |",
        "|---|---|---|---|---|---|",
    ]
    for size, result in uploads:
        throughput = size / MIB / result["wall"]
        lines.append(
            f"| {size // MIB:,} MiB | {int(result['parts'])} | {result['wall']:.1f} s "
            f"| {throughput:.0f} MiB/s | {result['requests'] * 1e3:.0f} ms "
            f"| {result['idle'] * 1e3:.0f} ms |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(run())
