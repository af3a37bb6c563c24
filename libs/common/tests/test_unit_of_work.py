from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text

from common.access import Access, access
from common.app import create_app
from common.errors import ConflictError
from common.settings import ServiceSettings
from common.sql import SqlDatabase
from common.unit_of_work import AfterCommitDep, SessionDep


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path}/demo.db")
    async with database.session() as session:
        await session.execute(text("CREATE TABLE notes (body TEXT)"))
    yield database
    await database.dispose()


def notes_app(database: SqlDatabase, seen: list[list[str]]) -> FastAPI:
    router = APIRouter()

    async def read_back() -> None:
        # The hook runs once the write is committed: a new session already sees it.
        async with database.session() as other:
            seen.append(list((await other.scalars(text("SELECT body FROM notes"))).all()))

    @router.post("/notes/{body}", openapi_extra=access(Access.PUBLIC))
    async def add_note(body: str, session: SessionDep, after_commit: AfterCommitDep) -> None:
        await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
        after_commit.add(read_back)
        if body == "refused":
            raise ConflictError("refused", code="refused")

    app = create_app("demo", ServiceSettings(environment="test"), routers=[router])
    app.state.database = database
    return app


async def test_after_commit_hooks_run_once_the_write_is_committed_and_never_on_rollback(
    database: SqlDatabase,
) -> None:
    seen: list[list[str]] = []
    transport = httpx.ASGITransport(notes_app(database, seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        kept = await client.post("/notes/kept")
        refused = await client.post("/notes/refused")

    assert kept.status_code == 200
    assert refused.status_code == 409
    assert seen == [["kept"]]
