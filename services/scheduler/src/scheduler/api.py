"""The scheduler's HTTP routes (all behind a permission; admins pass every check).

Periodic tasks and their runs are their creator's: a non-admin finds only their own.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from common.errors import InvalidInputError, error_responses
from common.pagination import Page, PageQueryDep
from common.security import CurrentUserDep, current_user
from scheduler.deps import ServiceDep
from scheduler.errors import (
    AdminOnlyTaskError,
    BrokerUnavailableError,
    CatalogUnavailableError,
    PeriodicTaskNameTakenError,
    PeriodicTaskNotFoundError,
    RunHistoryUnavailableError,
    RunNotFoundError,
)
from scheduler.schemas import (
    PeriodicTaskCreate,
    PeriodicTaskRead,
    PeriodicTaskUpdate,
    RunAccepted,
    RunRead,
    TaskInfo,
)

router = APIRouter(tags=["scheduler"], dependencies=[Depends(current_user)])


@router.get(
    "/tasks",
    summary="Task names the workers have registered, with their docstrings "
    "(admin-only tasks to admins only)",
    responses=error_responses(CatalogUnavailableError),
)
async def list_registered_tasks(user: CurrentUserDep, service: ServiceDep) -> list[TaskInfo]:
    return await service.registered_tasks(user)


@router.post(
    "/periodic-tasks",
    status_code=status.HTTP_201_CREATED,
    summary="Create a periodic task",
    responses=error_responses(
        InvalidInputError, AdminOnlyTaskError, PeriodicTaskNameTakenError, CatalogUnavailableError
    ),
)
async def create_periodic_task(
    data: PeriodicTaskCreate, user: CurrentUserDep, service: ServiceDep
) -> PeriodicTaskRead:
    return await service.create(user, data)


@router.get("/periodic-tasks", summary="List periodic tasks (your own; every owner's for admins)")
async def list_periodic_tasks(
    user: CurrentUserDep,
    service: ServiceDep,
    page: PageQueryDep,
    owner_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only this owner's tasks (`system`: the platform's seeded tasks). "
            "A non-admin sees only their own tasks whatever this says.",
        ),
    ] = None,
) -> Page[PeriodicTaskRead]:
    return await service.page(user, page, owner_id=owner_id)


@router.get(
    "/periodic-tasks/{task_id}",
    summary="One periodic task",
    responses=error_responses(PeriodicTaskNotFoundError),
)
async def get_periodic_task(
    task_id: uuid.UUID, user: CurrentUserDep, service: ServiceDep
) -> PeriodicTaskRead:
    return await service.get(user, task_id)


@router.patch(
    "/periodic-tasks/{task_id}",
    summary="Change a periodic task (only the fields sent)",
    responses=error_responses(
        PeriodicTaskNotFoundError,
        InvalidInputError,
        AdminOnlyTaskError,
        PeriodicTaskNameTakenError,
        CatalogUnavailableError,
    ),
)
async def update_periodic_task(
    task_id: uuid.UUID, data: PeriodicTaskUpdate, user: CurrentUserDep, service: ServiceDep
) -> PeriodicTaskRead:
    return await service.update(user, task_id, data)


@router.delete(
    "/periodic-tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a periodic task",
    responses=error_responses(PeriodicTaskNotFoundError),
)
async def delete_periodic_task(
    task_id: uuid.UUID, user: CurrentUserDep, service: ServiceDep
) -> Response:
    await service.delete(user, task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/periodic-tasks/{task_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the task now",
    responses=error_responses(
        PeriodicTaskNotFoundError,
        AdminOnlyTaskError,
        BrokerUnavailableError,
        CatalogUnavailableError,
    ),
)
async def run_periodic_task_now(
    task_id: uuid.UUID, user: CurrentUserDep, service: ServiceDep
) -> RunAccepted:
    return await service.run_now(user, task_id)


@router.get(
    "/periodic-tasks/{task_id}/runs",
    summary="Runs of a periodic task, newest first",
    responses=error_responses(PeriodicTaskNotFoundError, RunHistoryUnavailableError),
)
async def list_periodic_task_runs(
    task_id: uuid.UUID, user: CurrentUserDep, service: ServiceDep, page: PageQueryDep
) -> Page[RunRead]:
    return await service.runs(user, task_id, page)


@router.get(
    "/runs/{run_task_id}",
    summary="One run, by its Celery task id",
    responses=error_responses(RunNotFoundError, RunHistoryUnavailableError),
)
async def get_run(run_task_id: str, user: CurrentUserDep, service: ServiceDep) -> RunRead:
    return await service.run(user, run_task_id)
