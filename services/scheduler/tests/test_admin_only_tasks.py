"""Tasks a worker declares admin-only are scheduled, run and even listed by admins alone."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from redis import Redis as SyncRedis

from tasks.catalog import publish_catalog, withdraw_catalog

pytestmark = pytest.mark.usefixtures("demo_catalog")

ClientFactory = Callable[..., httpx.AsyncClient]
PRUNE = "worker.prune_run_history"
PRUNE_DOC = "Remove run-history records."


@pytest.fixture
def publish_prune(scheduler_redis_url: str) -> Iterator[Callable[[bool], None]]:
    """Publishes, as a second worker would, the maintenance task flagged admin-only or not."""
    sync = SyncRedis.from_url(scheduler_redis_url, decode_responses=True)

    def publish(admin_only: bool) -> None:
        flagged = {PRUNE} if admin_only else set()
        publish_catalog(sync, "maintenance-worker", {PRUNE: PRUNE_DOC}, 600, flagged)

    try:
        yield publish
    finally:
        withdraw_catalog(sync, "maintenance-worker")
        sync.close()


@pytest.fixture
def user(client_as: ClientFactory) -> httpx.AsyncClient:
    return client_as(sub=str(uuid.uuid4()), name="mallory")


def assert_admin_only(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["code"] == "admin_only_task"
    assert problem["task"] == PRUNE
    assert PRUNE in problem["detail"]


async def test_admin_only_tasks_are_listed_to_admins_alone_and_flagged(
    client: httpx.AsyncClient, user: httpx.AsyncClient, publish_prune: Callable[[bool], None]
) -> None:
    publish_prune(True)

    theirs = await user.get("/scheduler/tasks")
    assert theirs.status_code == 200
    assert [(t["name"], t["admin_only"]) for t in theirs.json()] == [
        ("demo.add", False),
        ("demo.sleep", False),
    ]
    admins = await client.get("/scheduler/tasks")
    assert {t["name"]: t["admin_only"] for t in admins.json()} == {
        "demo.add": False,
        "demo.sleep": False,
        PRUNE: True,
    }


async def test_a_non_admin_cannot_create_a_periodic_task_running_an_admin_only_task(
    client: httpx.AsyncClient,
    user: httpx.AsyncClient,
    publish_prune: Callable[[bool], None],
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    publish_prune(True)
    body = interval_task(task=PRUNE, args=[], kwargs={"older_than_days": 1})

    assert_admin_only(await user.post("/scheduler/periodic-tasks", json=body))
    assert (await user.get("/scheduler/periodic-tasks")).json()["total"] == 0

    created = await client.post("/scheduler/periodic-tasks", json=body)
    assert created.status_code == 201, created.text
    ran = await client.post(f"/scheduler/periodic-tasks/{created.json()['id']}/run")
    assert ran.status_code == 202, ran.text


async def test_a_non_admin_cannot_point_his_task_at_an_admin_only_task(
    user: httpx.AsyncClient,
    publish_prune: Callable[[bool], None],
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    publish_prune(True)
    created = await user.post("/scheduler/periodic-tasks", json=interval_task())
    assert created.status_code == 201, created.text
    url = f"/scheduler/periodic-tasks/{created.json()['id']}"

    assert_admin_only(await user.patch(url, json={"task": PRUNE, "args": []}))
    assert (await user.get(url)).json() == created.json()


async def test_an_admin_only_task_a_non_admin_owns_from_before_cannot_be_rerun_or_reargued(
    client: httpx.AsyncClient,
    user: httpx.AsyncClient,
    publish_prune: Callable[[bool], None],
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    # Created while no worker flagged the task (as before tasks could be admin-only).
    publish_prune(False)
    created = await user.post("/scheduler/periodic-tasks", json=interval_task(task=PRUNE, args=[]))
    assert created.status_code == 201, created.text
    url = f"/scheduler/periodic-tasks/{created.json()['id']}"
    publish_prune(True)

    assert_admin_only(await user.post(f"{url}/run"))
    assert_admin_only(await user.patch(url, json={"kwargs": {"older_than_days": 1}}))
    assert_admin_only(await user.patch(url, json={"args": [1]}))
    # What does not choose what runs stays his: it can be stopped and removed.
    disabled = await user.patch(url, json={"enabled": False, "name": "old prune"})
    assert disabled.status_code == 200, disabled.text
    # An admin is unaffected, on anyone's task.
    assert (await client.post(f"{url}/run")).status_code == 202
    assert (await client.patch(url, json={"kwargs": {"older_than_days": 7}})).status_code == 200
    assert (await user.delete(url)).status_code == 204
