"""SqlDatabase: one unit of work per block, on SQLite and on PostgreSQL alike."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from common.sql import SqlDatabase, UtcDateTime, normalize_sql_url


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


async def test_instants_keep_their_moment_and_come_back_aware_in_utc(sql_url: str) -> None:
    events = Table(
        "events",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UtcDateTime()),
    )
    five_hours_east = datetime(2030, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=5)))
    database = SqlDatabase(sql_url)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(events.metadata.create_all)
        async with database.session() as session:
            await session.execute(
                insert(events),
                [{"id": 1, "at": five_hours_east}, {"id": 2, "at": None}],
            )
        async with database.session() as session:
            rows = (await session.execute(select(events.c.at).order_by(events.c.id))).all()
    finally:
        await database.dispose()
    assert rows[0].at == datetime(2030, 1, 1, 5, 0, tzinfo=UTC)
    assert rows[0].at.utcoffset() == timedelta(0)
    assert rows[1].at is None
