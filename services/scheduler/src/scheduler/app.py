"""`uvicorn --factory scheduler.app:create_app`: the scheduler API."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from celery import Celery
from fastapi import FastAPI

from common.app import create_app as create_service_app
from common.lifespan import Resources, service_lifespan
from common.live_events.lifecycle import running_hub
from common.settings import load_settings
from common.tokens import KeySource
from scheduler.api import router
from scheduler.lost_run_sweep import sweeping
from scheduler.run_events import RunOwners
from scheduler.run_events import router as events_router
from scheduler.settings import SchedulerSettings
from tasks.lost_runs import LostRunSweeper
from tasks.run_events import RUNS_STREAM
from tasks.run_history import open_run_history
from tasks.runs import TaskRun


def create_app(
    settings: SchedulerSettings | None = None, *, keys: KeySource | None = None
) -> FastAPI:
    """The app; `keys` replaces auth's JWKS (tests sign their own tokens)."""
    settings = settings or load_settings(SchedulerSettings)

    @asynccontextmanager
    async def run_tasks(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        redis = resources.redis_client()
        celery = Celery("scheduler", broker=settings.broker_url, set_as_current=False)
        celery.conf.update(task_serializer="json", accept_content=["json"], enable_utc=True)
        app.state.celery = celery
        sweeper = LostRunSweeper(
            redis,
            TaskRun.get_pymongo_collection(),
            grace_seconds=settings.lost_run_grace_seconds,
            unowned_after_seconds=settings.lost_run_unowned_seconds,
        )
        try:
            async with (
                sweeping(sweeper, settings.lost_run_sweep_seconds),
                running_hub(app, settings, redis, RUNS_STREAM, owner_of=RunOwners(resources.sql())),
            ):
                yield
        finally:
            celery.close()

    lifespan = service_lifespan(
        settings,
        sql=True,
        redis=True,
        # Rekeys run records from before `_id` was the task id, then registers TaskRun.
        mongo=open_run_history,
        tokens=keys or True,
        publish_routes=True,
        started=run_tasks,
    )
    return create_service_app(
        "scheduler",
        settings,
        routers=[router, events_router],
        lifespan=lifespan,
        description="Periodic Celery tasks: CRUD, run now, run history. Live run events: "
        "WebSocket `/scheduler/events` ([AsyncAPI](/scheduler/events/asyncapi.json), "
        "[console page](/scheduler/events/console)).",
    )
