"""`SessionDep`: the request's SQL session, the only place that commits or rolls back, and
`AfterCommitDep`, where a service leaves work to run once that commit has succeeded."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from common.sql import SqlDatabase

AfterCommitHook = Callable[[], Awaitable[None]]


class AfterCommit:
    """Work to run once the request's transaction has committed; dropped when it rolls back."""

    def __init__(self) -> None:
        self._hooks: list[AfterCommitHook] = []

    def add(self, hook: AfterCommitHook) -> None:
        self._hooks.append(hook)

    async def run(self) -> None:
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            await hook()


def get_after_commit() -> AfterCommit:
    return AfterCommit()


# One per request: FastAPI hands the same object to the session and to whatever adds a hook.
AfterCommitDep = Annotated[AfterCommit, Depends(get_after_commit)]


async def get_session(
    request: Request, after_commit: AfterCommitDep
) -> AsyncIterator[AsyncSession]:
    """The request's unit of work on `app.state.database`: committed when the route returns,
    rolled back when it raises; the after-commit hooks run once the commit has succeeded."""
    database: SqlDatabase = request.app.state.database
    async with database.session() as session:
        yield session
    await after_commit.run()


# "function" scope: commit (and run the hooks) before the response leaves, FastAPI's default
# runs it after, so a client holding the answer finds the change in force from its next request.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
