import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from common.redis_client import create_redis
from common.route_manifest import manifest_key
from storage.app import build_object_store
from storage.service import FileService
from storage.settings import StorageSettings


async def test_ready_checks_redis_mongodb_and_s3(api: httpx.AsyncClient) -> None:
    response = await api.get("/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok", "mongo": "ok", "s3": "ok"}


async def test_every_storage_route_requires_a_permission_or_an_admin(
    api: httpx.AsyncClient,
) -> None:
    schema = (await api.get("/openapi.json")).json()

    levels = {
        (method.upper(), path): op["x-access"]
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path not in ("/health", "/ready")
    }

    # The live event routes (README: Live events): the socket's handshake needs its permission,
    # a ticket only a signed-in caller, and the socket's documents are public.
    events = {
        ("GET", "/events"): "permission",
        ("POST", "/events/tickets"): "authenticated",
        ("GET", "/events/asyncapi.json"): "public",
        ("GET", "/events/console"): "public",
    }
    assert {route: levels.pop(route) for route in events} == events
    assert levels[("POST", "/uploads")] == "permission"
    assert levels[("GET", "/buckets")] == "admin"
    assert {level for route, level in levels.items() if route != ("GET", "/buckets")} == {
        "permission"
    }
    assert len(levels) == 10


async def test_routes_are_published_for_the_rbac_registry(files: FileService) -> None:
    redis = create_redis(files.settings.redis_url)
    try:
        manifest = json.loads(await redis.get(manifest_key("storage")) or "{}")
    finally:
        await redis.aclose()

    permissions = {r["permission"] for r in manifest["routes"]}
    assert "storage:POST:/multipart/{file_id}/complete" in permissions
    assert "storage:GET:/buckets" in permissions


async def test_bucket_is_created_at_start_up(files: FileService) -> None:
    usage = await files.store.usage()

    assert usage.name == files.settings.bucket


def _connections_to(port: int) -> int:
    """This process's established TCP connections to a loopback port (Linux /proc)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                ours.add(target[8:-1])
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01" and fields[9] in ours:
            count += 1
    return count


async def test_a_closed_object_store_leaves_no_s3_connection_open(
    storage_settings_factory: Callable[..., StorageSettings],
) -> None:
    """The app's lifespan closes its store: pooled S3 connections close then, not whenever the
    garbage collector reaches them (a ResourceWarning at a random later moment)."""
    settings = storage_settings_factory()
    s3_port = urlsplit(settings.s3_endpoint).port
    assert s3_port is not None
    before = _connections_to(s3_port)  # the session's running app may hold some
    store = build_object_store(settings)
    await store.ensure_bucket()
    assert _connections_to(s3_port) > before

    store.close()

    assert _connections_to(s3_port) <= before
