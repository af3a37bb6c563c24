"""Periodic tasks and their runs belong to their creator, through the gateway: two users holding
the same role cannot reach each other's, the seeded maintenance tasks are the admins', and admins
see every owner's (issue 14, hole 2)."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from testkit.accounts import Accounts, User
from testkit.polling import eventually

pytestmark = pytest.mark.e2e

SEEDED = {"storage: remove stale uploads", "worker: prune run history"}
YEARLY = {"type": "crontab", "minute": "0", "hour": "3", "day_of_month": "1", "month_of_year": "1"}


@pytest.fixture
def http_timeout() -> float:
    return 30


@pytest.fixture
async def alice_and_bob(accounts: Accounts) -> tuple[User, User]:
    """Two ordinary users holding the same role, which grants every scheduler route."""
    role = await accounts.role("scheduler:*")
    return await accounts.signed_in(role), await accounts.signed_in(role)


@pytest.fixture
async def created(admin: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Ids of periodic tasks a test made; an admin deletes whatever is left of them."""
    ids: list[str] = []
    yield ids
    for task_id in ids:
        response = await admin.delete(f"/scheduler/periodic-tasks/{task_id}")
        assert response.status_code in (204, 404), response.text


def creator(created: list[str]) -> Callable[[User], Awaitable[dict[str, Any]]]:
    async def create(user: User) -> dict[str, Any]:
        body = {"name": f"e2e-{uuid.uuid4().hex[:10]}", "task": "demo.add", "args": [1, 2]}
        response = await user.http.post(
            "/scheduler/periodic-tasks", json={**body, "schedule": YEARLY}
        )
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        created.append(task["id"])
        return task

    return create


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_user_with_the_same_role_cannot_reach_another_users_task_or_its_runs(
    alice_and_bob: tuple[User, User], created: list[str]
) -> None:
    alice, bob = alice_and_bob
    task = await creator(created)(alice)
    url = f"/scheduler/periodic-tasks/{task['id']}"
    sent = await alice.http.post(f"{url}/run")
    assert sent.status_code == 202, sent.text
    run_url = f"/scheduler/runs/{sent.json()['task_id']}"

    async def alices_run() -> int:
        return (await alice.http.get(run_url)).status_code

    await eventually(alices_run, lambda status: status == 200)

    listed = await bob.http.get("/scheduler/periodic-tasks", params={"limit": 200})
    assert listed.status_code == 200, listed.text
    assert task["id"] not in {t["id"] for t in listed.json()["items"]}
    assert_not_found(await bob.http.get(url))
    assert_not_found(await bob.http.patch(url, json={"enabled": False, "args": [6, 6]}))
    assert_not_found(await bob.http.post(f"{url}/run"))
    assert_not_found(await bob.http.get(f"{url}/runs"))
    assert_not_found(await bob.http.get(run_url))
    assert_not_found(await bob.http.delete(url))

    assert (await alice.http.get(url)).json()["enabled"] is True
    runs = await alice.http.get(f"{url}/runs")
    assert [r["task_id"] for r in runs.json()["items"]] == [sent.json()["task_id"]]
    assert task["owner_id"] == alice.id
    assert (await alice.http.delete(url)).status_code == 204


async def test_the_seeded_maintenance_tasks_are_the_admins_and_hidden_from_users(
    admin: httpx.AsyncClient, alice_and_bob: tuple[User, User]
) -> None:
    _, bob = alice_and_bob
    seeded = await admin.get(
        "/scheduler/periodic-tasks", params={"owner_id": "system", "limit": 200}
    )
    assert seeded.status_code == 200, seeded.text
    tasks = [t for t in seeded.json()["items"] if t["name"] in SEEDED]
    assert {t["name"] for t in tasks} == SEEDED

    listed = await bob.http.get("/scheduler/periodic-tasks", params={"limit": 200})
    assert not SEEDED & {t["name"] for t in listed.json()["items"]}
    for task in tasks:
        url = f"/scheduler/periodic-tasks/{task['id']}"
        assert_not_found(await bob.http.get(url))
        assert_not_found(await bob.http.patch(url, json={"enabled": False}))
        assert_not_found(await bob.http.post(f"{url}/run"))
        assert_not_found(await bob.http.delete(url))
        after = await admin.get(url)
        assert after.json()["enabled"] is True
        assert after.json()["updated_at"] == task["updated_at"]
    assert {t["owner_id"] for t in tasks} == {"system"}


async def test_an_admin_sees_every_owners_tasks_and_filters_them_by_owner(
    admin: httpx.AsyncClient, alice_and_bob: tuple[User, User], created: list[str]
) -> None:
    alice, bob = alice_and_bob
    create = creator(created)
    alices, bobs = await create(alice), await create(bob)

    for user, task in ((alice, alices), (bob, bobs)):
        mine = await admin.get("/scheduler/periodic-tasks", params={"owner_id": user.id})
        assert mine.status_code == 200, mine.text
        assert mine.json() == {"items": [task], "total": 1}
        own = await user.http.get("/scheduler/periodic-tasks")
        assert own.json() == {"items": [task], "total": 1}
    every = await admin.get("/scheduler/periodic-tasks", params={"limit": 200})
    assert {alices["id"], bobs["id"]} <= {t["id"] for t in every.json()["items"]}
    edited = await admin.patch(f"/scheduler/periodic-tasks/{bobs['id']}", json={"enabled": False})
    assert edited.status_code == 200, edited.text
    assert edited.json()["owner_id"] == bob.id


async def test_a_user_with_the_scheduler_role_cannot_schedule_the_platforms_maintenance(
    admin: httpx.AsyncClient, alice_and_bob: tuple[User, User], created: list[str]
) -> None:
    """Pruning everyone's run history with arguments of his choosing is the admins' alone."""
    _, bob = alice_and_bob
    prune = "worker.prune_run_history"

    async def catalog(client: httpx.AsyncClient) -> dict[str, bool]:
        response = await client.get("/scheduler/tasks")
        assert response.status_code == 200, response.text
        return {t["name"]: t["admin_only"] for t in response.json()}

    admins = await eventually(lambda: catalog(admin), lambda found: prune in found)
    assert admins[prune] is True
    assert admins["storage.cleanup_stale_uploads"] is True
    bobs = await catalog(bob.http)
    assert bobs["demo.add"] is False
    assert not {prune, "storage.cleanup_stale_uploads"} & set(bobs)

    body = {
        "name": f"e2e-{uuid.uuid4().hex[:10]}",
        "task": prune,
        "kwargs": {"older_than_days": 1},
        "schedule": YEARLY,
        "enabled": False,
    }
    refused = await bob.http.post("/scheduler/periodic-tasks", json=body)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "admin_only_task"
    assert refused.json()["task"] == prune
    own = await creator(created)(bob)
    url = f"/scheduler/periodic-tasks/{own['id']}"
    repointed = await bob.http.patch(url, json={"task": prune, "args": []})
    assert repointed.status_code == 403, repointed.text
    assert (await bob.http.get(url)).json()["task"] == "demo.add"

    allowed = await admin.post("/scheduler/periodic-tasks", json=body)
    assert allowed.status_code == 201, allowed.text
    created.append(allowed.json()["id"])
