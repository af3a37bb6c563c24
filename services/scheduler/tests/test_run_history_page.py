"""A page of run history: its `total` and its items come from one read."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from common.mongo import create_mongo_client
from scheduler.settings import SchedulerSettings
from tasks.runs import TaskRun

pytestmark = pytest.mark.usefixtures("demo_catalog")

RUNS_WRITTEN = 150


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_total_and_items_agree_while_runs_are_being_written(
    client: httpx.AsyncClient,
    settings: SchedulerSettings,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    created = await client.post("/scheduler/periodic-tasks", json=interval_task(enabled=False))
    periodic_task_id = created.json()["id"]
    mongo = create_mongo_client(settings.mongo_url)
    runs = mongo[settings.mongo_database][TaskRun.Settings.name]

    async def write_runs() -> None:
        for _ in range(RUNS_WRITTEN):
            await runs.insert_one(
                {
                    "task_id": uuid.uuid4().hex,
                    "task": "demo.add",
                    "periodic_task_id": periodic_task_id,
                    "state": "SUCCESS",
                }
            )

    disagreements: list[tuple[int, int]] = []
    writer = asyncio.create_task(write_runs())
    try:
        while not writer.done():
            page = (
                await client.get(
                    f"/scheduler/periodic-tasks/{periodic_task_id}/runs", params={"limit": 200}
                )
            ).json()
            if page["total"] != len(page["items"]):
                disagreements.append((page["total"], len(page["items"])))
        await writer
    finally:
        await mongo.close()

    assert disagreements == []
    final = (
        await client.get(
            f"/scheduler/periodic-tasks/{periodic_task_id}/runs", params={"limit": 200}
        )
    ).json()
    assert final["total"] == len(final["items"]) == RUNS_WRITTEN
