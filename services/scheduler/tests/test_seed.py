import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import select
from sqlalchemy.engine import make_url

from common.sql import SqlDatabase
from scheduler.beat_entry import PeriodicTaskEntry
from scheduler.models import PeriodicTask
from scheduler.repository import BeatRepository
from scheduler.seed import (
    RUN_HISTORY_PRUNE_NAME,
    RUN_HISTORY_PRUNE_TASK,
    STORAGE_CLEANUP_NAME,
    STORAGE_CLEANUP_TASK,
    seed_defaults,
)
from scheduler.settings import SchedulerSettings


def seed_settings(database_url: str, **overrides: Any) -> SchedulerSettings:
    """Only the storage cleanup default, unless a test asks for the run-history prune too."""
    return SchedulerSettings.model_validate(
        {
            "environment": "test",
            "database_url": database_url,
            "run_history_prune_interval_seconds": 0,
            **overrides,
        }
    )


async def stored_tasks(database_url: str) -> Sequence[PeriodicTask]:
    database = SqlDatabase(database_url, pool_size=1)
    try:
        async with database.session() as session:
            return (await session.scalars(select(PeriodicTask))).all()
    finally:
        await database.dispose()


async def change_version(database_url: str) -> int:
    database = SqlDatabase(database_url, pool_size=1)
    try:
        async with database.session() as session:
            return await BeatRepository(session).change_version()
    finally:
        await database.dispose()


async def test_by_default_the_run_history_is_pruned_daily_beside_the_hourly_cleanup(
    database_url: str,
) -> None:
    settings = SchedulerSettings.model_validate(
        {"environment": "test", "database_url": database_url}
    )

    outcomes = await seed_defaults(settings)

    assert outcomes == {STORAGE_CLEANUP_NAME: "created", RUN_HISTORY_PRUNE_NAME: "created"}
    tasks = {task.name: task for task in await stored_tasks(database_url)}
    prune = tasks[RUN_HISTORY_PRUNE_NAME]
    assert prune.task == RUN_HISTORY_PRUNE_TASK
    assert prune.schedule == {"type": "interval", "every": 86_400, "period": "seconds"}
    assert prune.enabled is True
    assert (prune.args, prune.kwargs) == ([], {})
    assert tasks[STORAGE_CLEANUP_NAME].schedule["every"] == 3600


async def test_seeding_twice_creates_one_hourly_cleanup_task(database_url: str) -> None:
    settings = seed_settings(database_url)

    first = await seed_defaults(settings)
    second = await seed_defaults(settings)

    assert first == {STORAGE_CLEANUP_NAME: "created"}
    assert second == {STORAGE_CLEANUP_NAME: "exists"}
    [task] = await stored_tasks(database_url)
    assert task.name == STORAGE_CLEANUP_NAME
    assert task.task == STORAGE_CLEANUP_TASK
    assert task.schedule == {"type": "interval", "every": 3600, "period": "seconds"}
    assert task.enabled is True
    assert task.one_off is False
    assert (task.args, task.kwargs) == ([], {})


async def test_the_seeded_task_is_one_beat_can_schedule(database_url: str) -> None:
    await seed_defaults(seed_settings(database_url))
    [task] = await stored_tasks(database_url)

    entry = PeriodicTaskEntry.from_model(task, Celery(set_as_current=False))

    assert entry.task == STORAGE_CLEANUP_TASK
    assert entry.schedule.run_every.total_seconds() == 3600
    assert entry.is_due().is_due is False


async def test_an_operators_disable_and_schedule_edit_survive_a_reseed(
    client: httpx.AsyncClient, settings: SchedulerSettings
) -> None:
    await seed_defaults(settings)
    seeded = (await client.get("/scheduler/periodic-tasks")).json()["items"]
    listed = next(task for task in seeded if task["name"] == STORAGE_CLEANUP_NAME)
    edit = {
        "enabled": False,
        "schedule": {"type": "crontab", "minute": "15", "hour": "3"},
        "kwargs": {"older_than_seconds": 7200},
    }
    edited = await client.patch(f"/scheduler/periodic-tasks/{listed['id']}", json=edit)
    assert edited.status_code == 200, edited.text

    reseeded = await seed_defaults(settings)

    assert reseeded == {STORAGE_CLEANUP_NAME: "exists", RUN_HISTORY_PRUNE_NAME: "exists"}
    after = await client.get(f"/scheduler/periodic-tasks/{listed['id']}")
    assert after.json() == edited.json()
    assert after.json()["enabled"] is False
    assert after.json()["schedule"]["minute"] == "15"
    assert after.json()["kwargs"] == {"older_than_seconds": 7200}


async def test_an_existing_task_keeps_its_interval_when_the_setting_changes(
    database_url: str,
) -> None:
    await seed_defaults(seed_settings(database_url))

    await seed_defaults(seed_settings(database_url, storage_cleanup_interval_seconds=60))

    [task] = await stored_tasks(database_url)
    assert task.schedule["every"] == 3600


async def test_the_interval_setting_sets_the_seeded_schedule(database_url: str) -> None:
    settings = seed_settings(database_url, storage_cleanup_interval_seconds=900)

    await seed_defaults(settings)

    [task] = await stored_tasks(database_url)
    assert task.schedule == {"type": "interval", "every": 900, "period": "seconds"}


async def test_an_interval_of_zero_seeds_nothing_and_leaves_the_marker_alone(
    database_url: str,
) -> None:
    before = await change_version(database_url)

    outcomes = await seed_defaults(seed_settings(database_url, storage_cleanup_interval_seconds=0))

    assert outcomes == {}
    assert await stored_tasks(database_url) == []
    assert await change_version(database_url) == before


async def test_creating_the_task_moves_the_change_marker_and_a_reseed_does_not(
    database_url: str,
) -> None:
    settings = seed_settings(database_url)
    before = await change_version(database_url)

    await seed_defaults(settings)
    after_create = await change_version(database_url)
    await seed_defaults(settings)
    after_reseed = await change_version(database_url)

    assert after_create > before
    assert after_reseed == after_create
    database = SqlDatabase(database_url, pool_size=1)
    try:
        async with database.session() as session:
            changed = await BeatRepository(session).changed_since(before)
    finally:
        await database.dispose()
    assert [task.name for task in changed] == [STORAGE_CLEANUP_NAME]


async def test_concurrent_seeds_create_one_task(database_url: str) -> None:
    settings = seed_settings(database_url)

    outcomes = await asyncio.gather(seed_defaults(settings), seed_defaults(settings))

    assert sorted(o[STORAGE_CLEANUP_NAME] for o in outcomes) == ["created", "exists"]
    assert len(await stored_tasks(database_url)) == 1


async def _run_seed(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scheduler.seed",
        env={**os.environ, "LOG_JSON": "false", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


@pytest.mark.process
async def test_the_command_seeds_from_the_environment_without_printing_the_database_url(
    database_url: str,
) -> None:
    env = {"SCHEDULER_DATABASE_URL": database_url}

    code, output = await _run_seed(env)
    again_code, again = await _run_seed(env)

    assert code == again_code == 0
    assert "created" in output
    assert "exists" in again
    password = make_url(database_url).password
    for printed in (output, again):
        assert database_url not in printed
        assert password is None or str(password) not in printed
    names = {task.name for task in await stored_tasks(database_url)}
    assert names == {STORAGE_CLEANUP_NAME, RUN_HISTORY_PRUNE_NAME}


@pytest.mark.process
async def test_the_command_says_the_cleanup_is_off_when_its_interval_is_zero(
    database_url: str,
) -> None:
    code, output = await _run_seed(
        {
            "SCHEDULER_DATABASE_URL": database_url,
            "SCHEDULER_STORAGE_CLEANUP_INTERVAL_SECONDS": "0",
            "SCHEDULER_RUN_HISTORY_PRUNE_INTERVAL_SECONDS": "0",
        }
    )

    assert code == 0
    assert "SCHEDULER_STORAGE_CLEANUP_INTERVAL_SECONDS=0" in output
    assert "SCHEDULER_RUN_HISTORY_PRUNE_INTERVAL_SECONDS=0" in output
    assert await stored_tasks(database_url) == []
    assert await stored_tasks(database_url) == []
