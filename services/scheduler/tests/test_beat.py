"""DatabaseScheduler in process, against real SQL and Redis: what beat does on each tick."""

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from common.live_events.event_stream import StreamEvent, decode_entry
from common.sql import SqlDatabase
from mesh.net import free_port
from scheduler.beat import LAST_RUN_KEY, DatabaseScheduler
from scheduler.beat_lock import LOCK_KEY
from scheduler.migrations import upgrade_database
from scheduler.models import PeriodicTask
from scheduler.repository import PeriodicTaskRepository
from scheduler.settings import SchedulerSettings
from tasks.celery_app import build_celery
from tasks.queued_at import connect_queued_at
from tasks.run_events import RUN_STATE, RUNS_STREAM
from tasks.settings import TaskSettings

PAST = "2020-01-01T00:00:00Z"
# A database of the private Valkey standing in for a broker apart from the events' Redis.
OTHER_BROKER_DB = 8
SchedulerFactory = Callable[..., DatabaseScheduler]


@pytest.fixture
def make_scheduler(
    monkeypatch: pytest.MonkeyPatch, settings: SchedulerSettings
) -> Iterator[SchedulerFactory]:
    """Schedulers as `celery beat` builds them (settings from the environment); closed after."""
    # Beat's process stamps every message with its send time (`process_app` connects this);
    # without it here, a test reading `queued_at` passed only after another module connected it.
    connect_queued_at()
    app = build_celery(TaskSettings.model_validate({"redis_url": settings.redis_url}))
    apps = [app]
    created: list[DatabaseScheduler] = []

    def make(
        database_url: str = settings.database_url,
        redis_url: str = settings.redis_url,
        broker_url: str | None = None,
    ) -> DatabaseScheduler:
        """`broker_url`: a broker other than `redis_url` (the worker's app built for it)."""
        monkeypatch.setenv("SCHEDULER_DATABASE_URL", database_url)
        monkeypatch.setenv("REDIS_URL", redis_url)
        monkeypatch.setenv("SCHEDULER_BEAT_LOCK_TTL_SECONDS", "3")
        monkeypatch.setenv("SCHEDULER_BEAT_SYNC_SECONDS", "600")
        celery = app
        if broker_url is not None:
            celery = build_celery(
                TaskSettings.model_validate(
                    {"redis_url": redis_url, "celery_broker_url": broker_url}
                )
            )
            apps.append(celery)
        scheduler = DatabaseScheduler(app=celery)
        created.append(scheduler)
        return scheduler

    yield make
    for scheduler in created:
        scheduler.close()
    for made in apps:
        made.close()


async def tick(scheduler: DatabaseScheduler) -> float:
    return await asyncio.to_thread(scheduler.tick)


async def stored(database_url: str, task_id: str) -> PeriodicTask:
    database = SqlDatabase(database_url)
    try:
        async with database.session() as session:
            row = await session.get(PeriodicTask, uuid.UUID(task_id))
            assert row is not None
            return row
    finally:
        await database.dispose()


TaskFactory = Callable[..., Awaitable[dict[str, Any]]]
DUE_NOW = {"type": "clocked", "run_at": PAST}


@pytest.fixture
def periodic_task(
    client: httpx.AsyncClient, interval_task: Callable[..., dict[str, Any]]
) -> TaskFactory:
    """Create a periodic task through the API: `demo.add` every second unless `fields` say
    otherwise (`schedule=DUE_NOW`: due at once, one run)."""

    async def make(**fields: Any) -> dict[str, Any]:
        response = await client.post("/scheduler/periodic-tasks", json=interval_task(**fields))
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        return task

    return make


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_beat_survives_a_missing_schema_and_picks_the_schedule_up_once_it_exists(
    make_scheduler: SchedulerFactory,
    redis: Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'later.db'}"
    scheduler = make_scheduler(url)
    with caplog.at_level(logging.ERROR, logger="scheduler.beat"):
        assert await tick(scheduler) > 0
    assert "retrying" in caplog.text
    await upgrade_database(url)
    assert await tick(scheduler) >= 0
    assert scheduler.schedule == {}
    assert await redis.get(LOCK_KEY) == scheduler._lock.token  # type: ignore[union-attr]


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_beat_without_redis_logs_retries_and_never_leads(
    make_scheduler: SchedulerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = make_scheduler(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.ERROR, logger="scheduler.beat"):
        assert await tick(scheduler) > 0
        assert await tick(scheduler) > 0
    assert caplog.text.count("beat maintenance failed") == 2
    assert not scheduler._lock.valid  # type: ignore[union-attr]
    assert scheduler.schedule == {}


@pytest.mark.usefixtures("client")
async def test_the_leader_renews_its_lock_once_a_renewal_period_not_on_every_tick(
    make_scheduler: SchedulerFactory, redis: Redis
) -> None:
    scheduler = make_scheduler()
    await tick(scheduler)
    lock = scheduler._lock
    assert lock is not None
    assert lock.valid
    assert lock.renew_seconds == pytest.approx(0.3)  # a tenth of the tests' 3 s TTL
    # A renewal would set the key's TTL back to 3 s.
    await redis.pexpire(LOCK_KEY, 60_000)
    await tick(scheduler)
    assert await redis.pttl(LOCK_KEY) > 50_000
    assert lock.valid
    await asyncio.sleep(lock.renew_seconds)
    await tick(scheduler)
    assert await redis.pttl(LOCK_KEY) <= 3_000
    assert lock.valid


@pytest.mark.usefixtures("demo_catalog")
async def test_a_due_task_is_sent_recorded_in_redis_at_once_and_in_sql_on_sync(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    redis: Redis,
    database_url: str,
) -> None:
    task = await periodic_task(schedule=DUE_NOW)
    scheduler = make_scheduler()
    await tick(scheduler)
    assert scheduler.schedule[task["id"]].total_run_count == 1
    assert task["id"] in await redis.hgetall(LAST_RUN_KEY)
    # Batched: SQL has not been written yet.
    assert (await stored(database_url, task["id"])).total_run_count == 0
    await asyncio.to_thread(scheduler.flush)
    row = await stored(database_url, task["id"])
    assert row.total_run_count == 1
    assert row.last_run_at is not None
    assert row.enabled is False  # a one-off task is done


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_batch_is_logged_as_one_line_and_each_send_at_debug(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = [await periodic_task(schedule=DUE_NOW) for _ in range(2)]
    scheduler = make_scheduler()
    with caplog.at_level(logging.DEBUG, logger="scheduler.beat"):
        await tick(scheduler)
    sends = [r for r in caplog.records if r.getMessage().startswith("sent ")]
    [batch] = [r for r in sends if r.levelno == logging.INFO]
    assert batch.getMessage() == "sent demo.add x2"
    assert batch.__dict__["sent"] == 2
    each = [r for r in sends if r.levelno == logging.DEBUG]
    assert sorted(r.__dict__["periodic_task_id"] for r in each) == sorted(t["id"] for t in tasks)


@pytest.mark.usefixtures("demo_catalog")
async def test_a_task_deleted_before_the_write_back_does_not_break_it(
    make_scheduler: SchedulerFactory,
    client: httpx.AsyncClient,
    periodic_task: TaskFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deleted = await periodic_task(schedule=DUE_NOW)
    kept = await periodic_task(schedule=DUE_NOW)
    scheduler = make_scheduler()
    await tick(scheduler)
    await client.delete(f"/scheduler/periodic-tasks/{deleted['id']}")
    with caplog.at_level(logging.ERROR, logger="scheduler.beat"):
        await asyncio.to_thread(scheduler.flush)
    assert "could not write run state" not in caplog.text
    assert (await stored(database_url, kept["id"])).total_run_count == 1


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_standby_that_takes_over_does_not_repeat_what_the_dead_leader_sent(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    redis: Redis,
) -> None:
    task = await periodic_task(schedule=DUE_NOW)
    leader = make_scheduler()
    standby = make_scheduler()
    await tick(leader)
    await tick(standby)
    assert leader.schedule[task["id"]].total_run_count == 1
    assert standby.schedule == {}
    # The leader dies without syncing: its lock expires, SQL still says "never ran".
    await redis.delete(LOCK_KEY)
    await tick(standby)
    assert standby.schedule[task["id"]].total_run_count == 1
    assert not standby.schedule[task["id"]].is_due().is_due
    # And the old leader, should it wake up (its renewal due by then), no longer dispatches.
    await asyncio.sleep(leader._lock.renew_seconds)  # type: ignore[union-attr]
    await tick(leader)
    assert not leader._lock.valid  # type: ignore[union-attr]
    assert leader.schedule[task["id"]].total_run_count == 1


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_task_missing_from_the_catalog_is_reported_and_not_sent(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = await periodic_task(schedule=DUE_NOW)
    kept = await periodic_task(
        task="demo.sleep",
        args=[0],
        schedule=DUE_NOW,
    )
    await redis.hdel("worker:catalog:test-worker", "demo.add")
    scheduler = make_scheduler()
    with caplog.at_level(logging.WARNING, logger="scheduler.beat"):
        await tick(scheduler)
        await tick(scheduler)
    assert "no live worker has registered" in caplog.text
    assert scheduler.schedule[gone["id"]].total_run_count == 0
    assert scheduler.schedule[kept["id"]].total_run_count == 1


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_beat_reloads_only_when_the_change_marker_moves(
    make_scheduler: SchedulerFactory,
    client: httpx.AsyncClient,
    periodic_task: TaskFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hourly = {"type": "interval", "every": 1, "period": "hours"}
    first = await periodic_task(schedule=hourly)
    scheduler = make_scheduler()
    scheduler.settings = scheduler.settings.model_copy(update={"beat_change_poll_seconds": 0.01})
    await tick(scheduler)
    loaded = scheduler.schedule
    await asyncio.sleep(0.05)
    await tick(scheduler)
    assert scheduler.schedule is loaded  # nothing changed: no reload

    second = await periodic_task(schedule=hourly)
    await asyncio.sleep(0.05)
    await tick(scheduler)
    assert set(scheduler.schedule) == {first["id"], second["id"]}

    minutely = {"type": "interval", "every": 1, "period": "minutes"}
    await client.patch(f"/scheduler/periodic-tasks/{second['id']}", json={"schedule": minutely})
    await asyncio.sleep(0.05)
    await tick(scheduler)
    assert scheduler.schedule[second["id"]].schedule.run_every.total_seconds() == 60

    await client.patch(f"/scheduler/periodic-tasks/{first['id']}", json={"enabled": False})
    await asyncio.sleep(0.05)
    await tick(scheduler)
    assert set(scheduler.schedule) == {second["id"]}

    await client.delete(f"/scheduler/periodic-tasks/{second['id']}")
    await asyncio.sleep(0.05)
    await tick(scheduler)
    assert scheduler.schedule == {}


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_a_beat_that_stops_hands_the_lead_over_at_once(
    make_scheduler: SchedulerFactory, redis: Redis
) -> None:
    leader = make_scheduler()
    standby = make_scheduler()
    await tick(leader)
    await tick(standby)
    assert not standby._lock.valid  # type: ignore[union-attr]
    await asyncio.to_thread(leader.close)
    assert await redis.get(LOCK_KEY) is None
    await tick(standby)
    assert standby._lock.valid  # type: ignore[union-attr]


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_row_beat_cannot_read_is_reported_and_the_others_still_run(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = await periodic_task(schedule=DUE_NOW)
    database = SqlDatabase(database_url)
    try:
        async with database.session() as session:
            broken = PeriodicTask(
                name="written-around-the-api",
                task="demo.add",
                schedule_type="crontab",
                schedule={"type": "crontab", "minute": "99"},
            )
            await PeriodicTaskRepository(session).add(broken)
    finally:
        await database.dispose()
    scheduler = make_scheduler()
    with caplog.at_level(logging.ERROR, logger="scheduler.beat"):
        await tick(scheduler)
    assert f"periodic task {broken.id} cannot be scheduled" in caplog.text
    assert set(scheduler.schedule) == {good["id"]}
    assert scheduler.schedule[good["id"]].total_run_count == 1


async def queued_events(redis: Redis) -> list[StreamEvent]:
    entries = await redis.xrange(RUNS_STREAM) or []
    return [e for i, fields in entries if (e := decode_entry(str(i), fields)) is not None]


def sent_messages(broker: SyncRedis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("broker", ["the events' Redis", "another Redis"])
@pytest.mark.usefixtures("demo_catalog")
async def test_each_send_is_announced_queued_as_run_now_announces_it(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    redis: Redis,
    scheduler_redis_url: str,
    broker: str,
) -> None:
    """Subscribers see a run beat sends from the moment it is queued, with the id and the send
    time of its message, whichever Redis the broker is."""
    task = await periodic_task(schedule=DUE_NOW)
    broker_url = scheduler_redis_url
    if broker == "another Redis":
        broker_url = f"{scheduler_redis_url.rsplit('/', 1)[0]}/{OTHER_BROKER_DB}"
    broker_client = SyncRedis.from_url(broker_url, decode_responses=True)
    try:
        broker_client.delete("celery")
        scheduler = make_scheduler(
            broker_url=None if broker_url == scheduler_redis_url else broker_url
        )
        await tick(scheduler)
        [message] = sent_messages(broker_client)
    finally:
        broker_client.delete("celery")
        broker_client.close()
    [event] = await queued_events(redis)
    assert event.kind == RUN_STATE
    headers = message["headers"]
    assert event.data == {
        "task_id": headers["id"],
        "task": "demo.add",
        "periodic_task_id": task["id"],
        "state": "PENDING",
        "at": event.data["at"],
        "runtime_ms": None,
        "error": None,
    }
    sent_at = datetime.fromisoformat(headers["queued_at"])
    assert datetime.fromisoformat(event.data["at"]) == sent_at


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_send_that_fails_is_announced_failed_and_its_retry_queued_anew(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    redis: Redis,
) -> None:
    """As run now announces a send the broker refused; beat's next try is a new run."""
    await periodic_task()  # every second, the first a second after its creation
    scheduler = make_scheduler()
    await asyncio.sleep(1.0)
    await tick(scheduler)
    await redis.set("celery", "not a list")  # the broker refuses the next push (WRONGTYPE)
    await asyncio.sleep(1.0)
    await tick(scheduler)
    await redis.delete("celery")
    await asyncio.sleep(1.0)  # beat sends a failed entry again after RETRY_SECONDS
    await tick(scheduler)
    events = [(e.data["task_id"], e.data["state"]) for e in await queued_events(redis)]
    [message] = [json.loads(raw) for raw in await redis.lrange("celery", 0, -1)]
    failed = events[1][0]
    assert [state for _, state in events] == ["PENDING", "PENDING", "FAILURE", "PENDING"]
    assert events[2] == (failed, "FAILURE")
    assert events[3] == (message["headers"]["id"], "PENDING")


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("demo_catalog")
async def test_a_broker_error_while_a_message_is_first_built_does_not_stop_its_sends(
    make_scheduler: SchedulerFactory,
    periodic_task: TaskFactory,
    redis: Redis,
) -> None:
    await periodic_task(schedule=DUE_NOW)
    await redis.set("celery", "not a list")  # kombu's queue check fails (WRONGTYPE)
    scheduler = make_scheduler()
    await tick(scheduler)
    await redis.delete("celery")
    await asyncio.sleep(1.0)  # beat sends a failed entry again after RETRY_SECONDS
    await tick(scheduler)
    assert await redis.llen("celery") == 1
