"""Periodic tasks and their runs belong to their creator; admins see every owner's."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from scheduler.seed import RUN_HISTORY_PRUNE_NAME, STORAGE_CLEANUP_NAME, seed_defaults
from scheduler.settings import SchedulerSettings
from tasks.run_history import record_started

pytestmark = pytest.mark.usefixtures("demo_catalog")

ClientFactory = Callable[..., httpx.AsyncClient]


@dataclass(frozen=True)
class Caller:
    id: str
    http: httpx.AsyncClient


@pytest.fixture
def alice(client_as: ClientFactory) -> Caller:
    user_id = str(uuid.uuid4())
    return Caller(user_id, client_as(sub=user_id, name="alice"))


@pytest.fixture
def bob(client_as: ClientFactory) -> Caller:
    user_id = str(uuid.uuid4())
    return Caller(user_id, client_as(sub=user_id, name="bob"))


async def create(
    caller: Caller, interval_task: Callable[..., dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    response = await caller.http.post("/scheduler/periodic-tasks", json=interval_task(**fields))
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def run_now(caller: Caller, task_id: str) -> str:
    response = await caller.http.post(f"/scheduler/periodic-tasks/{task_id}/run")
    assert response.status_code == 202, response.text
    run_id: str = response.json()["task_id"]
    return run_id


def assert_not_found(response: httpx.Response, code: str = "periodic_task_not_found") -> None:
    assert response.status_code == 404, response.text
    assert response.json()["code"] == code


async def test_a_task_belongs_to_its_creator_and_a_body_cannot_name_another_owner(
    alice: Caller, bob: Caller, interval_task: Callable[..., dict[str, Any]]
) -> None:
    task = await create(alice, interval_task)
    assert task["owner_id"] == alice.id

    borrowed = await bob.http.post(
        "/scheduler/periodic-tasks", json=interval_task(owner_id=alice.id)
    )
    assert borrowed.status_code == 422
    patched = await alice.http.patch(
        f"/scheduler/periodic-tasks/{task['id']}", json={"owner_id": bob.id}
    )
    assert patched.status_code == 422
    assert (await alice.http.get(f"/scheduler/periodic-tasks/{task['id']}")).json() == task


async def test_a_user_lists_only_their_own_tasks_whatever_owner_they_ask_for(
    alice: Caller, bob: Caller, interval_task: Callable[..., dict[str, Any]]
) -> None:
    alices = await create(alice, interval_task)
    bobs = await create(bob, interval_task)

    for params in ({}, {"owner_id": alice.id}, {"owner_id": "system"}):
        listed = await bob.http.get("/scheduler/periodic-tasks", params=params)
        assert listed.status_code == 200, listed.text
        expected = [bobs] if not params else []
        assert listed.json() == {"items": expected, "total": len(expected)}, params
    own = await alice.http.get("/scheduler/periodic-tasks", params={"owner_id": alice.id})
    assert own.json() == {"items": [alices], "total": 1}


async def test_another_users_task_cannot_be_read_changed_run_or_deleted(
    alice: Caller, bob: Caller, interval_task: Callable[..., dict[str, Any]]
) -> None:
    task = await create(alice, interval_task)
    url = f"/scheduler/periodic-tasks/{task['id']}"

    assert_not_found(await bob.http.get(url))
    assert_not_found(await bob.http.patch(url, json={"enabled": False}))
    assert_not_found(await bob.http.post(f"{url}/run"))
    assert_not_found(await bob.http.get(f"{url}/runs"))
    assert_not_found(await bob.http.delete(url))

    assert (await alice.http.get(url)).json() == task
    runs = await alice.http.get(f"{url}/runs")
    assert runs.json() == {"items": [], "total": 0}


async def test_another_users_runs_are_not_found_and_their_own_are(
    alice: Caller, bob: Caller, interval_task: Callable[..., dict[str, Any]]
) -> None:
    task = await create(alice, interval_task)
    sent = await run_now(alice, task["id"])
    # What the worker records for a run beat dispatched: the periodic task id from its headers.
    dispatched = f"beat-{uuid.uuid4()}"
    await record_started(
        dispatched,
        "demo.add",
        periodic_task_id=task["id"],
        args=[2, 3],
        kwargs={},
        started_at=datetime.now(UTC),
    )

    for run_id in (sent, dispatched):
        assert_not_found(await bob.http.get(f"/scheduler/runs/{run_id}"), "run_not_found")
        own = await alice.http.get(f"/scheduler/runs/{run_id}")
        assert own.status_code == 200, own.text
        assert own.json()["periodic_task_id"] == task["id"]
    listed = await alice.http.get(f"/scheduler/periodic-tasks/{task['id']}/runs")
    assert {run["task_id"] for run in listed.json()["items"]} == {sent, dispatched}


async def test_a_run_without_a_periodic_task_is_for_admins_only(
    alice: Caller, client: httpx.AsyncClient, interval_task: Callable[..., dict[str, Any]]
) -> None:
    task = await create(alice, interval_task)
    run_id = await run_now(alice, task["id"])
    orphan = f"sent-elsewhere-{uuid.uuid4()}"
    await record_started(
        orphan,
        "demo.add",
        periodic_task_id=None,
        args=[],
        kwargs={},
        started_at=datetime.now(UTC),
    )

    deleted = await alice.http.delete(f"/scheduler/periodic-tasks/{task['id']}")
    assert deleted.status_code == 204

    for unowned in (run_id, orphan):
        assert_not_found(await alice.http.get(f"/scheduler/runs/{unowned}"), "run_not_found")
        assert (await client.get(f"/scheduler/runs/{unowned}")).status_code == 200


async def test_admins_see_change_and_run_every_owners_tasks_and_filter_by_owner(
    alice: Caller,
    bob: Caller,
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    alices = await create(alice, interval_task)
    bobs = await create(bob, interval_task)
    admins = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()

    everyone = await client.get("/scheduler/periodic-tasks")
    assert everyone.json() == {"items": [alices, bobs, admins], "total": 3}
    only_alice = await client.get("/scheduler/periodic-tasks", params={"owner_id": alice.id})
    assert only_alice.json() == {"items": [alices], "total": 1}
    nobody = await client.get("/scheduler/periodic-tasks", params={"owner_id": "nobody"})
    assert nobody.json() == {"items": [], "total": 0}

    url = f"/scheduler/periodic-tasks/{alices['id']}"
    run_id = await run_now(Caller("admin", client), alices["id"])
    assert (await client.get(f"/scheduler/runs/{run_id}")).status_code == 200
    assert (await alice.http.get(f"/scheduler/runs/{run_id}")).status_code == 200
    patched = await client.patch(url, json={"enabled": False})
    assert patched.status_code == 200, patched.text
    # An admin's change leaves the task its creator's.
    assert patched.json()["owner_id"] == alice.id
    assert (await client.delete(url)).status_code == 204
    assert_not_found(await alice.http.get(url))


async def test_seeded_tasks_belong_to_the_system_and_only_admins_see_or_change_them(
    alice: Caller,
    client: httpx.AsyncClient,
    settings: SchedulerSettings,
) -> None:
    await seed_defaults(settings)

    seeded = await client.get("/scheduler/periodic-tasks", params={"owner_id": "system"})
    assert seeded.status_code == 200
    by_name = {task["name"]: task for task in seeded.json()["items"]}
    assert set(by_name) == {STORAGE_CLEANUP_NAME, RUN_HISTORY_PRUNE_NAME}
    assert {task["owner_id"] for task in by_name.values()} == {"system"}

    listed = await alice.http.get("/scheduler/periodic-tasks")
    assert listed.json() == {"items": [], "total": 0}
    for task in by_name.values():
        url = f"/scheduler/periodic-tasks/{task['id']}"
        assert_not_found(await alice.http.get(url))
        assert_not_found(await alice.http.patch(url, json={"kwargs": {"older_than_days": 1}}))
        assert_not_found(await alice.http.post(f"{url}/run"))
        assert_not_found(await alice.http.delete(url))
        assert (await client.get(url)).json() == task

    edited = await client.patch(
        f"/scheduler/periodic-tasks/{by_name[STORAGE_CLEANUP_NAME]['id']}",
        json={"enabled": False},
    )
    assert edited.status_code == 200, edited.text


async def test_names_are_unique_per_owner_so_a_user_cannot_hold_a_seeded_tasks_name(
    alice: Caller,
    bob: Caller,
    client: httpx.AsyncClient,
    settings: SchedulerSettings,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    shared = await create(alice, interval_task, name=STORAGE_CLEANUP_NAME)
    # Another user's name is neither refused (which would say that it exists) nor in the way.
    same_name = await create(bob, interval_task, name=STORAGE_CLEANUP_NAME)
    again = await alice.http.post(
        "/scheduler/periodic-tasks", json=interval_task(name=STORAGE_CLEANUP_NAME)
    )
    assert again.status_code == 409
    assert again.json()["code"] == "periodic_task_name_taken"

    outcomes = await seed_defaults(settings)

    assert outcomes[STORAGE_CLEANUP_NAME] == "created"
    named = [
        task
        for task in (await client.get("/scheduler/periodic-tasks")).json()["items"]
        if task["name"] == STORAGE_CLEANUP_NAME
    ]
    owners = sorted(task["owner_id"] for task in named)
    assert owners == sorted([alice.id, bob.id, "system"])
    assert {shared["id"], same_name["id"]} < {task["id"] for task in named}
