"""SqlDatabase: one unit of work per block, on SQLite and on PostgreSQL alike."""

import pytest
from sqlalchemy import text

from common.sql import SqlDatabase, normalize_sql_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/auth", "postgresql+asyncpg://u:p@db:5432/auth"),
        ("postgres://u@db/auth", "postgresql+asyncpg://u@db/auth"),
        ("sqlite:///data/auth.db", "sqlite+aiosqlite:///data/auth.db"),
        ("postgresql+asyncpg://u@db/auth", "postgresql+asyncpg://u@db/auth"),
    ],
)
def test_plain_urls_get_the_async_driver(url: str, expected: str) -> None:
    assert normalize_sql_url(url) == expected


async def test_a_block_commits_on_success_and_rolls_back_on_error(sql_url: str) -> None:
    database = SqlDatabase(sql_url)
    try:
        async with database.session() as session:
            await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        async with database.session() as session:
            await session.execute(text("INSERT INTO notes (id, body) VALUES (1, 'kept')"))

        async def failing_request() -> None:
            async with database.session() as session:
                await session.execute(text("INSERT INTO notes (id, body) VALUES (2, 'lost')"))
                raise RuntimeError("the request failed")

        with pytest.raises(RuntimeError):
            await failing_request()
        async with database.session() as session:
            rows = (await session.execute(text("SELECT body FROM notes ORDER BY id"))).all()
        assert [r.body for r in rows] == ["kept"]
        await database.ping()
    finally:
        await database.dispose()


async def test_sqlite_files_get_their_directory_and_wal_mode(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    database = SqlDatabase(f"sqlite:///{tmp_path / 'nested' / 'svc.db'}")
    try:
        async with database.session() as session:
            mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
        assert mode == "wal"
        assert (tmp_path / "nested").is_dir()
    finally:
        await database.dispose()
