"""`uvicorn --factory scheduler.app:create_app`: the scheduler API."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from celery import Celery
from fastapi import FastAPI

from common.app import create_app as create_service_app
from common.health import register_ready_check
from common.live_events.lifecycle import running_hub
from common.mongo import ping_mongo
from common.redis_client import create_redis
from common.security import install_token_verification
from common.settings import load_settings
from common.sql import SqlDatabase
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
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = SqlDatabase(settings.database_url, pool_size=settings.sql_pool_size)
        redis = create_redis(settings.redis_url)
        # Rekeys run records from before `_id` was the task id, then registers TaskRun.
        mongo = await open_run_history(settings.mongo_url, settings.mongo_database)
        celery = Celery("scheduler", broker=settings.broker_url, set_as_current=False)
        celery.conf.update(task_serializer="json", accept_content=["json"], enable_utc=True)
        app.state.database = database
        app.state.redis = redis
        app.state.celery = celery
        install_token_verification(app, settings, redis=redis, keys=keys)
        register_ready_check(app, "database", database.ping)
        register_ready_check(app, "redis", redis.ping)
        register_ready_check(app, "mongo", lambda: ping_mongo(mongo))
        sweeper = LostRunSweeper(
            redis,
            TaskRun.get_pymongo_collection(),
            grace_seconds=settings.lost_run_grace_seconds,
            unowned_after_seconds=settings.lost_run_unowned_seconds,
        )
        try:
            async with (
                sweeping(sweeper, settings.lost_run_sweep_seconds),
                running_hub(app, settings, redis, RUNS_STREAM, owner_of=RunOwners(database)),
            ):
                yield
        finally:
            await database.dispose()
            await redis.aclose()
            await mongo.close()
            celery.close()

    return create_service_app(
        "scheduler",
        settings,
        routers=[router, events_router],
        lifespan=lifespan,
        description="Periodic Celery tasks: CRUD, run now, run history. Live run events: "
        "WebSocket `/scheduler/events` ([AsyncAPI](/scheduler/events/asyncapi.json), "
        "[console page](/scheduler/events/console)).",
    )
