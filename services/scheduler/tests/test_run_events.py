"""Whose a run event is: the owner of its periodic task, looked up in the scheduler's SQL."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from common.live_events.event_stream import StreamEvent
from common.mongo import init_mongo
from common.sql import SqlDatabase
from scheduler.models import SYSTEM_OWNER, PeriodicTask
from scheduler.run_events import RunOwners
from tasks.run_history import record_started
from tasks.runs import TaskRun


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[SqlDatabase]:
    made = SqlDatabase(database_url)
    yield made
    await made.dispose()


async def _task(database: SqlDatabase, owner: str) -> str:
    task = PeriodicTask(
        owner_id=owner,
        name=uuid.uuid4().hex,
        task="demo.add",
        schedule_type="interval",
        schedule={},
    )
    async with database.session() as session:
        session.add(task)
        await session.commit()
    return str(task.id)


def _event(**data: object) -> StreamEvent:
    return StreamEvent("1-0", "run.state", None, {"task_id": str(uuid.uuid4()), **data})


async def test_a_run_is_its_periodic_tasks_owners_and_a_taskless_one_nobodys(
    database: SqlDatabase,
) -> None:
    owners = RunOwners(database)
    alice = str(uuid.uuid4())
    alices = await _task(database, alice)
    assert await owners(_event(periodic_task_id=alices)) == alice
    assert await owners(_event(periodic_task_id=alices)) == alice  # cached
    assert await owners(_event(periodic_task_id=await _task(database, SYSTEM_OWNER))) == (
        SYSTEM_OWNER
    )
    assert await owners(_event(periodic_task_id=str(uuid.uuid4()))) is None  # deleted task
    assert await owners(_event(periodic_task_id="not-a-uuid")) is None
    # No task and no run id to find it by.
    assert await owners(StreamEvent("1-0", "run.state", None, {"periodic_task_id": None})) is None


async def test_a_lost_run_whose_event_lacks_its_task_is_found_through_its_record(
    database: SqlDatabase, mongo_url: str, mongo_database: str
) -> None:
    client = await init_mongo(mongo_url, mongo_database, [TaskRun])
    try:
        alice = str(uuid.uuid4())
        alices = await _task(database, alice)
        run_id = str(uuid.uuid4())
        await record_started(
            run_id,
            "demo.add",
            periodic_task_id=alices,
            args=[],
            kwargs={},
            started_at=datetime.now(UTC),
        )
        event = StreamEvent("1-0", "run.state", None, {"task_id": run_id, "state": "LOST"})
        assert await RunOwners(database)(event) == alice
        assert event.data["periodic_task_id"] == alices  # so filters by task see it too
    finally:
        await client.close()
