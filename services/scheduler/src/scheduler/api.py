"""The scheduler's HTTP routes (all behind a permission; admins pass every check)."""

import uuid

from fastapi import APIRouter, Depends, Response, status

from common.errors import InvalidInputError, error_responses
from common.pagination import Page, PageQuery
from common.security import current_user
from scheduler.deps import ServiceDep
from scheduler.errors import (
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
    summary="Task names the workers have registered, with their docstrings",
    responses=error_responses(CatalogUnavailableError),
)
async def list_registered_tasks(service: ServiceDep) -> list[TaskInfo]:
    return await service.registered_tasks()


@router.post(
    "/periodic-tasks",
    status_code=status.HTTP_201_CREATED,
    summary="Create a periodic task",
    responses=error_responses(
        InvalidInputError, PeriodicTaskNameTakenError, CatalogUnavailableError
    ),
)
async def create_periodic_task(data: PeriodicTaskCreate, service: ServiceDep) -> PeriodicTaskRead:
    return await service.create(data)


@router.get("/periodic-tasks", summary="List periodic tasks")
async def list_periodic_tasks(service: ServiceDep, page: PageQuery) -> Page[PeriodicTaskRead]:
    return await service.page(page)


@router.get(
    "/periodic-tasks/{task_id}",
    summary="One periodic task",
    responses=error_responses(PeriodicTaskNotFoundError),
)
async def get_periodic_task(task_id: uuid.UUID, service: ServiceDep) -> PeriodicTaskRead:
    return await service.get(task_id)


@router.patch(
    "/periodic-tasks/{task_id}",
    summary="Change a periodic task (only the fields sent)",
    responses=error_responses(
        PeriodicTaskNotFoundError,
        InvalidInputError,
        PeriodicTaskNameTakenError,
        CatalogUnavailableError,
    ),
)
async def update_periodic_task(
    task_id: uuid.UUID, data: PeriodicTaskUpdate, service: ServiceDep
) -> PeriodicTaskRead:
    return await service.update(task_id, data)


@router.delete(
    "/periodic-tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a periodic task",
    responses=error_responses(PeriodicTaskNotFoundError),
)
async def delete_periodic_task(task_id: uuid.UUID, service: ServiceDep) -> Response:
    await service.delete(task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/periodic-tasks/{task_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the task now",
    responses=error_responses(PeriodicTaskNotFoundError, BrokerUnavailableError),
)
async def run_periodic_task_now(task_id: uuid.UUID, service: ServiceDep) -> RunAccepted:
    return await service.run_now(task_id)


@router.get(
    "/periodic-tasks/{task_id}/runs",
    summary="Runs of a periodic task, newest first",
    responses=error_responses(PeriodicTaskNotFoundError, RunHistoryUnavailableError),
)
async def list_periodic_task_runs(
    task_id: uuid.UUID, service: ServiceDep, page: PageQuery
) -> Page[RunRead]:
    return await service.runs(task_id, page)


@router.get(
    "/runs/{run_task_id}",
    summary="One run, by its Celery task id",
    responses=error_responses(RunNotFoundError, RunHistoryUnavailableError),
)
async def get_run(run_task_id: str, service: ServiceDep) -> RunRead:
    return await service.run(run_task_id)
