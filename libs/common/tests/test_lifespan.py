import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from common.app import create_app
from common.lifespan import Resources, service_lifespan
from common.redis_client import create_redis
from common.route_manifest import manifest_key
from common.settings import MongoSettings, ServiceSettings, SqlSettings
from common.tokens import JwksClient


class DemoSettings(SqlSettings, MongoSettings):
    database_url: str = "sqlite+aiosqlite:///:memory:"
    mongo_database: str = "demo"


class ReachableStore:
    """An S3 store that answers its ping (the storage service's is tested against real S3)."""

    def __init__(self) -> None:
        self.closed = False

    async def ping(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


async def open_store() -> ReachableStore:
    return ReachableStore()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, mongo_url: str) -> DemoSettings:
    return DemoSettings.model_validate(
        {
            "environment": "test",
            "log_json": False,
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/demo.db",
            "redis_url": redis_url,
            "mongo_url": mongo_url,
            "mongo_database": f"demo_{uuid.uuid4().hex[:8]}",
        }
    )


def demo_app(settings: ServiceSettings, **resources: object) -> FastAPI:
    service = f"demo{uuid.uuid4().hex[:8]}"
    lifespan = service_lifespan(settings, **resources)  # type: ignore[arg-type]
    return create_app(service, settings, lifespan=lifespan, configure_logs=False)


async def test_every_resource_is_checked_by_ready_under_its_fixed_name(
    settings: DemoSettings,
) -> None:
    app = demo_app(settings, sql=True, redis=True, mongo=[], s3=open_store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            ready = await client.get("/ready")
        store = app.state.s3
        assert not store.closed

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"sql": "ok", "redis": "ok", "mongo": "ok", "s3": "ok"}
    assert store.closed  # its pooled connections with it, not at a random garbage collection


async def test_the_jwks_client_a_lifespan_opens_is_closed_at_shutdown(
    settings: DemoSettings,
) -> None:
    app = demo_app(settings, redis=True, tokens=True)
    async with app.router.lifespan_context(app):
        keys = app.state.token_verifier.keys
        assert isinstance(keys, JwksClient)
        assert not keys.closed

    assert keys.closed


async def test_what_was_opened_is_closed_when_the_service_fails_to_start(
    settings: DemoSettings,
) -> None:
    seen: list[Resources] = []

    @asynccontextmanager
    async def failing_start(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        seen.append(resources)
        if resources.database is not None:
            raise RuntimeError("the service's own start-up failed")
        yield

    app = demo_app(settings, sql=True, redis=True, tokens=True, started=failing_start)
    with pytest.raises(RuntimeError, match="own start-up failed"):
        async with app.router.lifespan_context(app):
            pass

    assert len(seen) == 1
    keys = app.state.token_verifier.keys
    assert isinstance(keys, JwksClient)
    assert keys.closed


@pytest.mark.parametrize("publish", [True, False])
async def test_routes_are_published_to_the_registry_only_when_asked(
    settings: DemoSettings, publish: bool
) -> None:
    app = demo_app(settings, redis=True, publish_routes=publish)
    async with app.router.lifespan_context(app):
        pass

    redis = create_redis(settings.redis_url)
    try:
        stored = await redis.get(manifest_key(app.state.service_name))
        await redis.delete(manifest_key(app.state.service_name))
    finally:
        await redis.aclose()
    assert (stored is not None) is publish


def test_publishing_routes_needs_redis_and_a_database_needs_its_settings() -> None:
    plain = ServiceSettings(environment="test")
    with pytest.raises(ValueError, match="publish_routes needs redis"):
        service_lifespan(plain, publish_routes=True)
    with pytest.raises(TypeError, match="SqlSettings"):
        service_lifespan(plain, sql=True)
    with pytest.raises(TypeError, match="MongoSettings"):
        service_lifespan(plain, mongo=[])
