import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mesh.seaweed import S3Server
from storage.app import create_app
from storage.service import FileService
from storage.settings import StorageSettings
from testkit.tokens import TokenSigner


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture(scope="session")
def storage_settings_factory(
    mongo_url: str, s3_server: S3Server, redis_url: str, signer: TokenSigner
) -> Callable[..., StorageSettings]:
    def make(**overrides: Any) -> StorageSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "log_json": False,
            "redis_url": redis_url,
            "jwt_issuer": signer.issuer,
            "jwt_audience": signer.audience,
            "mongo_url": mongo_url,
            "mongo_database": f"storage_{uuid.uuid4().hex[:8]}",
            "s3_endpoint": s3_server.endpoint,
            "s3_access_key": s3_server.access_key,
            "s3_secret_key": s3_server.secret_key,
            "s3_region": s3_server.region,
            "bucket": f"files-{uuid.uuid4().hex[:8]}",
        }
        values.update(overrides)
        return StorageSettings.model_validate(values)

    return make


async def _running(
    settings: StorageSettings, signer: TokenSigner
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, keys=signer.keys())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://storage") as client:
            yield app, client


@pytest.fixture(scope="session")
async def storage_app(
    storage_settings_factory: Callable[..., StorageSettings], signer: TokenSigner
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One running storage app for the session, with an 8 MiB single-upload limit."""
    settings = storage_settings_factory(max_single_upload_bytes=8 * 1024 * 1024)
    async for running in _running(settings, signer):
        yield running


@pytest.fixture
def api(storage_app: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return storage_app[1]


@pytest.fixture
def files(storage_app: tuple[FastAPI, httpx.AsyncClient]) -> FileService:
    service: FileService = storage_app[0].state.files
    return service


@pytest.fixture
def restricted_api(
    storage_app: tuple[FastAPI, httpx.AsyncClient],
    storage_settings_factory: Callable[..., StorageSettings],
) -> Iterator[httpx.AsyncClient]:
    """The app with stricter limits: text and images only, files up to 1 MiB, URLs up to 1 h.

    Beanie binds documents to one database per process, so the limits are swapped into the
    running app rather than started as a second app.
    """
    app, client = storage_app
    running: FileService = app.state.files
    settings = storage_settings_factory(
        allowed_content_types=["text/plain", "image/*"],
        max_file_bytes=1024 * 1024,
        max_url_expiry_seconds=3600,
    )
    app.state.files = FileService(running.files, running.store, settings)
    try:
        yield client
    finally:
        app.state.files = running


def _headers(signer: TokenSigner, *, admin: bool = False) -> dict[str, str]:
    token = signer.token(sub=str(uuid.uuid4()), adm=admin)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice(signer: TokenSigner) -> dict[str, str]:
    """Authorization headers of a fresh user."""
    return _headers(signer)


@pytest.fixture
def bob(signer: TokenSigner) -> dict[str, str]:
    return _headers(signer)


@pytest.fixture
def admin(signer: TokenSigner) -> dict[str, str]:
    return _headers(signer, admin=True)


@pytest.fixture(scope="session")
async def s3_http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, like a browser holding presigned URLs."""
    async with httpx.AsyncClient(timeout=60) as client:
        yield client
