"""Pytest fixtures with real servers, shared by every test suite in the workspace.

- `redis_url`: a private Valkey server for the whole session (flush it freely).
- `postgres_database`: a factory of fresh databases on the shared PostgreSQL; dropped afterwards.
- `sql_url`: parametrized over SQLite and PostgreSQL for tests that must pass on both.
- `mongo_url`: a private MongoDB-wire server (mongoeco over SQLite) for the whole session.
- `s3_server`: a private SeaweedFS that only accepts signed S3 requests, for the whole session.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from mesh.seaweed import S3Server
from testkit.embedded import mongo_server, seaweed_server
from testkit.postgres import create_database, drop_database
from testkit.valkey import valkey_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with valkey_server(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mongo_server(tmp_path_factory.mktemp("mongo")) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """`endpoint`, `access_key`, `secret_key`, `region` of a private signed-S3 server."""
    with seaweed_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
async def postgres_database() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    created: list[str] = []

    async def make(label: str) -> str:
        url = await create_database(label)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_database: Callable[[str], Awaitable[str]],
) -> str:
    """A fresh empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    label = "".join(c for c in request.node.name.split("[")[0].lower() if c.isalnum())[:20]
    return await postgres_database(label)
