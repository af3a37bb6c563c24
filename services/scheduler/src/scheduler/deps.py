"""Dependencies of the scheduler routes, declared once as `Annotated` aliases."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from common.sql import SqlDatabase
from scheduler.collaborators import RunHistory, TaskCatalog, TaskSender
from scheduler.repository import PeriodicTaskRepository
from scheduler.service import PeriodicTaskService


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: the only place that commits or rolls back."""
    database: SqlDatabase = request.app.state.database
    async with database.session() as session:
        yield session


# "function" scope: commit before the response leaves (FastAPI's default runs it after), so a
# client holding the answer finds the change from its next request on.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_service(request: Request, session: SessionDep) -> PeriodicTaskService:
    state = request.app.state
    return PeriodicTaskService(
        PeriodicTaskRepository(session),
        TaskCatalog(state.redis),
        TaskSender(state.celery),
        RunHistory(state.redis),
    )


ServiceDep = Annotated[PeriodicTaskService, Depends(get_service)]
