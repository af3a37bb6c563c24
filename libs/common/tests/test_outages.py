"""An unreachable dependency is a 503 naming it, with Retry-After, whichever client raised."""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.exceptions
import urllib3
from fastapi import APIRouter
from pymongo import AsyncMongoClient

from common.app import create_app
from common.outages import outage_of
from common.redis_client import create_redis
from common.s3 import create_s3
from common.settings import ServiceSettings
from common.sql import SqlDatabase


def _closed_port() -> int:
    """A loopback port nobody listens on (the kernel's choice, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _redis_down(_: Path) -> None:
    redis = create_redis(f"redis://127.0.0.1:{_closed_port()}/0", timeout=1)
    try:
        await redis.get("key")
    finally:
        await redis.aclose()


async def _postgres_down(_: Path) -> None:
    database = SqlDatabase(f"postgresql://u:p@127.0.0.1:{_closed_port()}/db")
    try:
        await database.ping()
    finally:
        await database.dispose()


async def _sqlite_unopenable(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    database = SqlDatabase(f"sqlite:///{tmp_path / 'a-directory.db'}")
    try:
        await database.ping()
    finally:
        await database.dispose()


async def _mongo_down(_: Path) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{_closed_port()}", serverSelectionTimeoutMS=300
    )
    try:
        await client["db"]["things"].find_one({})
    finally:
        await client.close()


async def _s3_down(_: Path) -> None:
    s3 = create_s3(
        f"http://127.0.0.1:{_closed_port()}",
        "key",
        "secret-secret",
        "us-east-1",
        http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0)),
    )
    await asyncio.to_thread(s3.bucket_exists, "files")


OUTAGES: dict[str, tuple[str, Callable[[Path], Awaitable[None]]]] = {
    "redis": ("redis", _redis_down),
    "postgres": ("sql", _postgres_down),
    "sqlite": ("sql", _sqlite_unopenable),
    "mongo": ("mongo", _mongo_down),
    "s3": ("s3", _s3_down),
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.get("/use/{kind}")
    async def use(kind: str) -> dict[str, str]:
        await OUTAGES[kind][1](tmp_path)
        return {"used": kind}

    @router.get("/bug")
    async def bug() -> dict[str, str]:
        raise ConnectionError("not a dependency: a bug of ours")

    async def failing_check() -> None:
        raise RuntimeError("down")

    app = create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)
    app.state.ready_checks["thing"] = failing_check
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


@pytest.mark.parametrize("kind", list(OUTAGES))
async def test_an_unreachable_dependency_is_a_503_naming_it_with_retry_after(
    client: httpx.AsyncClient, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = await client.get(f"/demo/use/{kind}")

    dependency = OUTAGES[kind][0]
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    problem = response.json()
    assert problem["code"] == "dependency_unavailable"
    assert problem["detail"] == f"{dependency} is unavailable; retry later"
    # An outage is logged as one line: no traceback to wade through.
    assert not any(r.exc_info for r in caplog.records)


async def test_a_connection_error_from_our_own_code_stays_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/demo/bug")

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"


class PublishError(Exception):
    """What a library wrapping the client raises (as Celery's publisher wraps Redis's error)."""


def test_an_outage_wrapped_by_another_library_is_found_through_its_cause() -> None:
    wrapped = PublishError("cannot publish")
    wrapped.__cause__ = redis.exceptions.ConnectionError("refused")

    assert outage_of(wrapped) == "redis"


async def test_every_503_tells_when_to_retry(client: httpx.AsyncClient) -> None:
    response = await client.get("/demo/ready")

    assert response.status_code == 503
    assert response.json()["detail"] == "dependency not ready: thing"
    assert int(response.headers["Retry-After"]) > 0
