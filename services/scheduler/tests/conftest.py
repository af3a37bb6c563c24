import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from scheduler.app import create_app
from scheduler.migrations import upgrade_database
from scheduler.settings import SchedulerSettings
from tasks.catalog import publish_catalog
from testkit.celery_processes import celery_process, process_env, wait_for_workers, worker_command
from testkit.plugin import SqlSchema
from testkit.tokens import TokenSigner

# Our processes use their own database of the private Valkey, which we flush at will.
SCHEDULER_REDIS_DB = 7


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def scheduler_redis_url(redis_url: str) -> str:
    return f"{redis_url.rsplit('/', 1)[0]}/{SCHEDULER_REDIS_DB}"


@pytest.fixture
async def redis(scheduler_redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(scheduler_redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
def sql_schema() -> SqlSchema:
    """`sql_url` comes migrated to scheduler's head (a per-session template, copied per test)."""
    return SqlSchema("scheduler", upgrade_database)


@pytest.fixture
def database_url(sql_url: str, sql_schema: SqlSchema) -> str:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    return sql_url


@pytest.fixture
def mongo_database() -> str:
    return f"scheduler_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(
    database_url: str, scheduler_redis_url: str, mongo_url: str, mongo_database: str
) -> SchedulerSettings:
    return SchedulerSettings.model_validate(
        {
            "environment": "test",
            "log_json": False,
            "redis_url": scheduler_redis_url,
            "database_url": database_url,
            "mongo_url": mongo_url,
            "mongo_database": mongo_database,
        }
    )


@pytest.fixture
def process_environment(settings: SchedulerSettings) -> dict[str, str]:
    """What the mesh would give worker and beat, with fast beat timings for tests."""
    return process_env(
        redis_url=settings.redis_url,
        mongo_url=settings.mongo_url,
        worker_mongo_database=settings.mongo_database,
        scheduler_database_url=settings.database_url,
        scheduler_beat_lock_ttl_seconds="3",
        scheduler_beat_change_poll_seconds="0.5",
        scheduler_beat_sync_seconds="1",
        scheduler_beat_max_interval_seconds="0.5",
    )


@pytest.fixture
def worker(
    process_environment: dict[str, str], tmp_path: Path, redis: Redis, settings: SchedulerSettings
) -> Iterator[None]:
    """A real Celery worker process (every installed task module loaded)."""
    with celery_process(worker_command("w1"), process_environment, tmp_path / "worker.log"):
        wait_for_workers(settings.redis_url)
        yield


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_as(
    settings: SchedulerSettings, signer: TokenSigner, redis: Redis
) -> AsyncIterator[ClientFactory]:
    """Clients of one scheduler app in process, each called as the user whose token claims
    (`sub`, `adm`, ...) it is given, as through the gateway."""
    app = create_app(settings, keys=signer.keys())
    async with app.router.lifespan_context(app), AsyncExitStack() as clients:

        def make(**claims: Any) -> httpx.AsyncClient:
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                base_url="http://scheduler",
                headers={"Authorization": f"Bearer {signer.token(**claims)}"},
            )
            clients.push_async_callback(http.aclose)
            return http

        yield make


@pytest.fixture
def client(client_as: ClientFactory) -> httpx.AsyncClient:
    """The scheduler app in process, called as an admin would through the gateway."""
    return client_as(adm=True)


@pytest.fixture
def demo_catalog(scheduler_redis_url: str, redis: Redis) -> dict[str, str]:
    """The catalog a worker with the demo tasks publishes, without running one."""
    catalog = {"demo.add": "Add two numbers.", "demo.sleep": "Sleep asynchronously."}
    sync = SyncRedis.from_url(scheduler_redis_url, decode_responses=True)
    try:
        publish_catalog(sync, "test-worker", catalog, 600)
    finally:
        sync.close()
    return catalog


@pytest.fixture
def interval_task() -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"task-{uuid.uuid4().hex[:8]}",
            "task": "demo.add",
            "schedule": {"type": "interval", "every": 1, "period": "seconds"},
            "args": [2, 3],
        }
        body.update(overrides)
        return body

    return make
