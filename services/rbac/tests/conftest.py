"""A running rbac app (lifespan, pub/sub listener and all) over a real database and Valkey."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from common.redis_client import create_redis
from common.route_manifest import publish_manifest
from rbac.migrations import upgrade
from rbac.testing import Rbac, eventually, manifest, running_rbac
from testkit.plugin import SqlSchema
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
async def rbac(
    sql_url: str, sql_schema: SqlSchema, redis_url: str, redis: Redis, signer: TokenSigner
) -> AsyncIterator[Rbac]:
    async with running_rbac(sql_url, redis_url, signer) as running:
        yield running


@pytest.fixture
async def storage_registered(rbac: Rbac, redis: Redis) -> None:
    await publish_manifest(redis, manifest("storage", STORAGE_ROUTES))
    response = await eventually(
        lambda: rbac.authorize("GET", "/storage/health"), lambda r: r.status_code == 200
    )
    assert response.status_code == 200
