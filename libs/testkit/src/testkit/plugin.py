"""Pytest fixtures with real servers, shared by every test suite in the workspace.

- `redis_url`: a private Valkey server for the whole session (flush it freely).
- `postgres_database`: a factory of fresh databases on the shared PostgreSQL; dropped afterwards.
- `sql_url`: parametrized over SQLite and PostgreSQL for tests that must pass on both; empty,
  or already migrated when the test also uses a `sql_schema` fixture (see `SqlSchema`).
- `mongo_url`: a private MongoDB-wire server (mongoeco over SQLite) for the whole session.
- `s3_server`: a private SeaweedFS that only accepts signed S3 requests, for the whole session.
"""

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mesh.seaweed import S3Server
from testkit.embedded import mongo_server, seaweed_server
from testkit.postgres import create_database, drop_database, drop_databases
from testkit.valkey import valkey_server


@dataclass(frozen=True)
class SqlSchema:
    """A service's schema, for `sql_url` to hand out already migrated.

    A suite's conftest declares `@pytest.fixture def sql_schema() -> SqlSchema` and any test
    using both `sql_url` and `sql_schema` (usually through its `database_url` fixture) gets a
    database at that schema's head: migrated once per session into a template (a SQLite file, a
    PostgreSQL template database), then copied per test. The copy is byte for byte what the
    migrations made, so a test sees exactly what `upgrade(url)` on a fresh database gives.
    """

    key: str
    upgrade: Callable[[str], Awaitable[None]]


class _Templates:
    """The migrated templates of this session, made on first use."""

    def __init__(self, directory: Path, postgres: Callable[..., Awaitable[str]]) -> None:
        self.directory = directory
        self.postgres = postgres
        self.made: dict[tuple[str, str], str] = {}

    async def get(self, kind: str, schema: SqlSchema) -> str:
        """The template's path (SQLite) or URL (PostgreSQL)."""
        key = (kind, schema.key)
        if key not in self.made:
            if kind == "sqlite":
                path = self.directory / f"{schema.key}.db"
                await schema.upgrade(f"sqlite+aiosqlite:///{path}")
                self.made[key] = str(path)
            else:
                url = await self.postgres(f"tmpl{schema.key}"[:20])
                await schema.upgrade(url)
                self.made[key] = url
        return self.made[key]


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


class PostgresDatabases:
    """Our databases on the shared server: `await make(label, template=None)` creates one (a
    copy of `template` if given); `release(url)` drops it in the background.

    A DROP DATABASE waits for a checkpoint: seconds on a busy server, server-side work this
    process only waits for. Dropped one after another at the end of the session they took
    minutes; released as each test ends they drop while the next tests run, a few at a time,
    and the end of the session waits only for the last ones.
    """

    def __init__(self, concurrency: int = 4) -> None:
        self.created: list[str] = []
        self._gate = asyncio.Semaphore(concurrency)
        self._drops: set[asyncio.Task[None]] = set()
        self._spares: dict[str, asyncio.Task[str]] = {}

    async def make(self, label: str, *, template: str | None = None) -> str:
        url = await create_database(label, template=template)
        self.created.append(url)
        return url

    __call__ = make

    async def copy(self, template: str, label: str) -> str:
        """A fresh copy of `template`, made while the previous test ran.

        A CREATE DATABASE is a tenth of a second or more of the server's work (more on a busy
        one) that a test would otherwise wait for before it starts: the copy for the next test
        is made in the background as this one is handed out.
        """
        spare = self._spares.pop(template, None)
        url = await (spare if spare is not None else self.make(label, template=template))
        self._spares[template] = asyncio.get_running_loop().create_task(
            self.make(label, template=template)
        )
        return url

    def release(self, url: str) -> None:
        self.created.remove(url)
        drop = asyncio.get_running_loop().create_task(self._drop(url))
        self._drops.add(drop)
        drop.add_done_callback(self._drops.discard)

    async def _drop(self, url: str) -> None:
        async with self._gate:
            await drop_database(url)

    async def close(self) -> None:
        await asyncio.gather(*self._spares.values(), return_exceptions=True)
        await asyncio.gather(*self._drops)
        await drop_databases(self.created)


@pytest.fixture(scope="session")
async def postgres_database() -> AsyncIterator[PostgresDatabases]:
    """A factory of fresh databases on the shared PostgreSQL; every one dropped by the end."""
    databases = PostgresDatabases()
    yield databases
    await databases.close()


@pytest.fixture(scope="session")
def _sql_templates(
    tmp_path_factory: pytest.TempPathFactory, postgres_database: PostgresDatabases
) -> _Templates:
    return _Templates(tmp_path_factory.mktemp("sql-templates"), postgres_database)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_database: PostgresDatabases,
    _sql_templates: _Templates,
) -> AsyncIterator[str]:
    """A fresh database, once on SQLite and once on PostgreSQL: empty, or at the head of the
    `sql_schema` the test also uses."""
    schema: SqlSchema | None = None
    if "sql_schema" in request.fixturenames:
        schema = request.getfixturevalue("sql_schema")
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        if schema is not None:
            source = Path(await _sql_templates.get("sqlite", schema))
            shutil.copyfile(source, path)
            wal = source.with_name(source.name + "-wal")  # gone once closed, unless a
            if wal.exists():  # connection outlived the migration: then the copy needs it too
                shutil.copyfile(wal, path.with_name(path.name + "-wal"))
        yield f"sqlite+aiosqlite:///{path}"
        return
    if schema is None:
        label = "".join(c for c in request.node.name.split("[")[0].lower() if c.isalnum())[:20]
        url = await postgres_database.make(label)
    else:
        template = await _sql_templates.get("postgres", schema)
        url = await postgres_database.copy(template, label=schema.key)
    yield url
    postgres_database.release(url)
