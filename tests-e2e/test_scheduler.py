"""scheduler through the gateway, like a client: catalog, periodic tasks, run now, run history."""

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from testkit.accounts import Accounts
from testkit.polling import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def http_timeout() -> float:
    return 30


@pytest.fixture
async def periodic_task(admin: httpx.AsyncClient) -> AsyncIterator[Callable[..., Any]]:
    """Create periodic tasks through the API; every one is deleted after the test."""
    created: list[str] = []

    async def create(**fields: Any) -> dict[str, Any]:
        body = {"name": f"e2e-{uuid.uuid4().hex[:10]}", "task": "demo.add", "args": [20, 22]}
        body.update(fields)
        response = await admin.post("/scheduler/periodic-tasks", json=body)
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        created.append(task["id"])
        return task

    yield create
    for task_id in created:
        await admin.delete(f"/scheduler/periodic-tasks/{task_id}")


async def run_now(
    admin: httpx.AsyncClient, task_id: str, *, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Run a periodic task now, then its run record once `until` holds for it."""
    accepted = await admin.post(f"/scheduler/periodic-tasks/{task_id}/run")
    assert accepted.status_code == 202, accepted.text

    async def run() -> dict[str, Any]:
        response = await admin.get(f"/scheduler/runs/{accepted.json()['task_id']}")
        # 404 until the first record of the run is written.
        assert response.status_code in (200, 404), response.text
        body: dict[str, Any] = response.json()
        return body

    return await eventually(run, until)


async def test_the_catalog_lists_the_tasks_workers_registered(admin: httpx.AsyncClient) -> None:
    async def names() -> set[str]:
        response = await admin.get("/scheduler/tasks")
        assert response.status_code == 200, response.text
        return {t["name"] for t in response.json()}

    found = await eventually(names, lambda n: {"demo.add", "demo.sleep"} <= n)
    assert "storage.cleanup_stale_uploads" in found


async def test_a_periodic_task_runs_and_its_history_is_visible(
    admin: httpx.AsyncClient, periodic_task: Callable[..., Any]
) -> None:
    task = await periodic_task(schedule={"type": "interval", "every": 1, "period": "seconds"})

    async def runs() -> list[dict[str, Any]]:
        response = await admin.get(f"/scheduler/periodic-tasks/{task['id']}/runs")
        assert response.status_code == 200, response.text
        return [r for r in response.json()["items"] if r["state"] == "SUCCESS"]

    done = await eventually(runs, lambda r: len(r) >= 1)
    assert done[0]["result"] == 42
    assert done[0]["periodic_task_id"] == task["id"]
    disabled = await admin.patch(f"/scheduler/periodic-tasks/{task['id']}", json={"enabled": False})
    assert disabled.status_code == 200


async def test_run_now_runs_an_async_task(
    admin: httpx.AsyncClient, periodic_task: Callable[..., Any]
) -> None:
    yearly = {
        "type": "crontab",
        "minute": "0",
        "hour": "3",
        "day_of_month": "1",
        "month_of_year": "1",
    }
    task = await periodic_task(task="demo.sleep", args=[0.1], schedule=yearly)
    done = await run_now(admin, task["id"], until=lambda r: r.get("state") == "SUCCESS")
    assert done["task"] == "demo.sleep"


async def test_bad_input_is_a_problem_naming_the_field(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/scheduler/periodic-tasks",
        json={
            "name": f"e2e-{uuid.uuid4().hex[:10]}",
            "task": "demo.add",
            "schedule": {"type": "crontab", "minute": "75", "timezone": "Europe/Paris"},
        },
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any("schedule" in issue["loc"] for issue in response.json()["errors"])


async def test_a_user_without_the_permission_is_refused(accounts: Accounts) -> None:
    user = await accounts.signed_in()
    response = await user.http.get("/scheduler/periodic-tasks")
    assert response.status_code == 403


async def test_the_mesh_prunes_the_run_history_daily_and_the_prune_runs(
    admin: httpx.AsyncClient,
) -> None:
    # Names are unique per owner: the seeded one is the system's.
    listed = await admin.get(
        "/scheduler/periodic-tasks", params={"owner_id": "system", "limit": 100}
    )
    assert listed.status_code == 200, listed.text
    [prune] = [t for t in listed.json()["items"] if t["name"] == "worker: prune run history"]
    assert prune["task"] == "worker.prune_run_history"
    assert prune["enabled"] is True
    assert prune["schedule"] == {"type": "interval", "every": 86400, "period": "seconds"}

    done = await run_now(
        admin, prune["id"], until=lambda r: r.get("state") in ("SUCCESS", "FAILURE")
    )
    assert done["state"] == "SUCCESS", done
    assert isinstance(done["result"]["runs_removed"], int)
