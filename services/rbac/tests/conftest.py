"""A running rbac app (lifespan, pub/sub listener and all) over a real database and Valkey."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest
from redis.asyncio import Redis

from common.redis_client import create_redis
from common.route_manifest import publish_manifest
from rbac.app import create_app
from rbac.migrations import upgrade
from rbac.settings import RbacSettings
from testkit.plugin import SqlSchema
from testkit.polling import until
from testkit.rbac_app import Rbac, StartRbac, manifest, running_rbac
from testkit.tokens import TokenSigner

STORAGE_ROUTES = [
    ("GET", "/health", "public"),
    ("GET", "/files", "permission"),
    ("GET", "/files/{file_id}", "permission"),
    ("DELETE", "/files/{file_id}", "permission"),
    ("POST", "/uploads", "permission"),
    ("GET", "/me", "authenticated"),
    ("GET", "/buckets", "admin"),
]


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def sql_schema() -> SqlSchema:
    """`sql_url` comes migrated to rbac's head (a per-session template, copied per test)."""
    return SqlSchema("rbac", upgrade)


@pytest.fixture
def start_rbac(signer: TokenSigner) -> StartRbac:
    """Run rbac on a database and a Redis, trusting `signer`'s tokens."""

    def start(database_url: str, redis_url: str) -> AbstractAsyncContextManager[Rbac]:
        settings = RbacSettings(
            database_url=database_url,
            redis_url=redis_url,
            jwt_issuer=signer.issuer,
            jwt_audience=signer.audience,
            listener_heartbeat_seconds=0.5,
        )
        return running_rbac(create_app(settings, keys=signer.keys(), configure_logs=False), signer)

    return start


@pytest.fixture
async def rbac(
    sql_url: str, sql_schema: SqlSchema, redis_url: str, redis: Redis, start_rbac: StartRbac
) -> AsyncIterator[Rbac]:
    async with start_rbac(sql_url, redis_url) as running:
        yield running


@pytest.fixture
async def storage_registered(rbac: Rbac, redis: Redis) -> None:
    await publish_manifest(redis, manifest("storage", STORAGE_ROUTES))
    response = await until(
        lambda: rbac.authorize("GET", "/storage/health"), lambda r: r.status_code == 200
    )
    assert response.status_code == 200
