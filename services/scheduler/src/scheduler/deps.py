"""Dependencies of the scheduler routes, declared once as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request

from common.unit_of_work import SessionDep
from scheduler.collaborators import RunHistory, TaskCatalog, TaskSender
from scheduler.repository import PeriodicTaskRepository
from scheduler.service import PeriodicTaskService


def get_service(request: Request, session: SessionDep) -> PeriodicTaskService:
    state = request.app.state
    return PeriodicTaskService(
        PeriodicTaskRepository(session),
        TaskCatalog(state.redis),
        TaskSender(state.celery),
        RunHistory(state.redis),
    )


ServiceDep = Annotated[PeriodicTaskService, Depends(get_service)]
