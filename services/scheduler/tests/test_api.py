import json
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text, update
from sqlmodel import col
from starlette.types import Message, Receive, Scope, Send

from common.sql import SqlDatabase
from scheduler.app import create_app
from scheduler.models import PeriodicTask
from scheduler.repository import BeatRepository, PeriodicTaskRepository
from scheduler.settings import SchedulerSettings
from testkit.tokens import TokenSigner

pytestmark = pytest.mark.usefixtures("demo_catalog")


async def store_directly(database_url: str, task_id: str, **values: Any) -> None:
    """Write columns as a row stored before today's input checks may hold them."""
    database = SqlDatabase(database_url)
    try:
        async with database.session() as session:
            await session.execute(
                update(PeriodicTask)
                .where(col(PeriodicTask.id) == uuid.UUID(task_id))
                .values(**values)
            )
    finally:
        await database.dispose()


async def test_registered_tasks_come_from_the_workers_catalog(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/scheduler/tasks")
    assert response.status_code == 200
    assert response.json() == [
        {"name": "demo.add", "description": "Add two numbers.", "admin_only": False},
        {"name": "demo.sleep", "description": "Sleep asynchronously.", "admin_only": False},
    ]


async def test_created_periodic_task_can_be_read_listed_changed_and_deleted(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    body = interval_task(description="adds", queue="celery", priority=3)
    created = await client.post("/scheduler/periodic-tasks", json=body)
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["schedule"] == {"type": "interval", "every": 1, "period": "seconds"}
    assert task["last_run_at"] is None
    assert task["total_run_count"] == 0
    assert task["enabled"] is True

    fetched = await client.get(f"/scheduler/periodic-tasks/{task['id']}")
    assert fetched.json() == task
    listed = await client.get("/scheduler/periodic-tasks", params={"limit": 10})
    assert listed.json()["total"] == 1
    assert listed.json()["items"] == [task]

    schedule = {"type": "crontab", "minute": "*/5", "hour": "8-18", "timezone": "Europe/Paris"}
    patched = await client.patch(
        f"/scheduler/periodic-tasks/{task['id']}", json={"enabled": False, "schedule": schedule}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["schedule"]["timezone"] == "Europe/Paris"
    assert patched.json()["schedule"]["day_of_week"] == "*"
    assert patched.json()["description"] == "adds"

    deleted = await client.delete(f"/scheduler/periodic-tasks/{task['id']}")
    assert deleted.status_code == 204
    missing = await client.get(f"/scheduler/periodic-tasks/{task['id']}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "periodic_task_not_found"


async def test_times_given_with_an_offset_are_kept_as_the_same_instants(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    body = interval_task(
        start_time="2031-01-01T10:00:00+05:00", expires_at="2031-01-02T10:00:00-03:00"
    )
    created = await client.post("/scheduler/periodic-tasks", json=body)
    assert created.status_code == 201, created.text
    task_url = f"/scheduler/periodic-tasks/{created.json()['id']}"
    stored = (await client.get(task_url)).json()
    assert stored["start_time"] == "2031-01-01T05:00:00Z"
    assert stored["expires_at"] == "2031-01-02T13:00:00Z"
    await client.patch(task_url, json={"start_time": "2031-01-01T08:00:00+08:00"})
    assert (await client.get(task_url)).json()["start_time"] == "2031-01-01T00:00:00Z"


async def test_every_write_moves_the_change_marker_beat_watches(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
    database_url: str,
) -> None:
    database = SqlDatabase(database_url)

    async def version() -> int:
        async with database.session() as session:
            return await BeatRepository(session).change_version()

    try:
        before = await version()
        task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
        after_create = await version()
        await client.patch(f"/scheduler/periodic-tasks/{task['id']}", json={"args": [1, 1]})
        after_edit = await version()
        await client.delete(f"/scheduler/periodic-tasks/{task['id']}")
        after_delete = await version()
    finally:
        await database.dispose()
    assert before < after_create < after_edit < after_delete


async def test_a_task_no_worker_registered_is_refused_naming_the_field(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    response = await client.post("/scheduler/periodic-tasks", json=interval_task(task="no.such"))
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_task"
    assert response.json()["errors"][0]["loc"] == ["body", "task"]
    assert (await client.get("/scheduler/periodic-tasks")).json()["total"] == 0


async def test_invalid_schedules_and_ranges_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"schedule": {"type": "crontab", "minute": "61"}}, "schedule"),
        ({"schedule": {"type": "crontab", "hour": "x"}}, "schedule"),
        ({"schedule": {"type": "crontab", "timezone": "Mars/Olympus"}}, "schedule"),
        (
            {"schedule": {"type": "crontab", "day_of_month": "31", "month_of_year": "2"}},
            "schedule",
        ),
        ({"schedule": {"type": "interval", "every": 0}}, "schedule"),
        ({"schedule": {"type": "interval", "every": 5, "period": "fortnights"}}, "schedule"),
        (
            {"schedule": {"type": "solar", "event": "sunrise", "latitude": 91, "longitude": 0}},
            "schedule",
        ),
        (
            {"schedule": {"type": "solar", "event": "teatime", "latitude": 1, "longitude": 0}},
            "schedule",
        ),
        ({"schedule": {"type": "clocked", "run_at": "2030-01-01T00:00:00"}}, "schedule"),
        ({"schedule": {"type": "weekly"}}, "schedule"),
        ({"args": {"not": "a list"}}, "args"),
        ({"kwargs": [1, 2]}, "kwargs"),
        ({"priority": 10}, "priority"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        (
            {"start_time": "2031-01-02T00:00:00Z", "expires_at": "2031-01-01T00:00:00Z"},
            "expires_at",
        ),
        ({"unexpected": True}, "unexpected"),
    ]
    for overrides, field in bad:
        response = await client.post("/scheduler/periodic-tasks", json=interval_task(**overrides))
        assert response.status_code == 422, (overrides, response.text)
        problem = response.json()
        assert problem["code"] in ("validation_failed", "invalid_time_range"), problem
        assert any(field in issue["loc"] for issue in problem["errors"]), (field, problem)
    assert (await client.get("/scheduler/periodic-tasks")).json()["total"] == 0


async def test_times_that_fall_outside_years_1_to_9999_in_utc_are_refused(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"start_time": "0001-01-01T00:00:00+01:00"}, "start_time"),
        (
            {"start_time": "0001-01-01T00:00:00+01:00", "expires_at": "2031-01-01T00:00:00Z"},
            "start_time",
        ),
        ({"expires_at": "9999-12-31T23:30:00-01:00"}, "expires_at"),
        ({"schedule": {"type": "clocked", "run_at": "0001-01-01T00:00:00+01:00"}}, "run_at"),
    ]
    for overrides, field in bad:
        response = await client.post("/scheduler/periodic-tasks", json=interval_task(**overrides))
        assert response.status_code == 422, (overrides, response.text)
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert any(field in issue["loc"] for issue in problem["errors"]), (field, problem)
    assert (await client.get("/scheduler/periodic-tasks")).json()["total"] == 0
    edge = interval_task(expires_at="9999-12-31T22:00:00-01:00")
    accepted = await client.post("/scheduler/periodic-tasks", json=edge)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["expires_at"] == "9999-12-31T23:00:00Z"


async def test_arguments_either_store_would_change_or_refuse_are_refused(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    body = json.dumps(interval_task(args=["ARGS"], kwargs={"k": "KWARGS"}))
    bad: list[tuple[str, str, str]] = [
        ('["ARGS"]', "[NaN]", "args"),
        ('["ARGS"]', "[1, [Infinity]]", "args"),
        ('{"k": "KWARGS"}', '{"x": -Infinity}', "kwargs"),
        ('["ARGS"]', f"[{2**63}]", "args"),
        ('{"k": "KWARGS"}', f'{{"x": {{"y": {-(2**63) - 1}}}}}', "kwargs"),
        ('{"k": "KWARGS"}', '{"a\\u0000b": 1}', "kwargs"),
        ('["ARGS"]', "[" * 40 + "]" * 40, "args"),
        # Lone surrogates: JSON can spell them, UTF-8 (and so BSON) cannot encode them.
        ('["ARGS"]', '["\\ud800"]', "args"),
        ('["ARGS"]', '[{"x": ["a\\udfff"]}]', "args"),
        ('{"k": "KWARGS"}', '{"k": "\\udc00"}', "kwargs"),
        ('{"k": "KWARGS"}', '{"\\ud800": 1}', "kwargs"),
    ]
    for placeholder, value, field in bad:
        response = await client.post(
            "/scheduler/periodic-tasks",
            content=body.replace(placeholder, value),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, (value, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", field], value
    assert (await client.get("/scheduler/periodic-tasks")).json()["total"] == 0
    extremes = interval_task(
        args=[2**63 - 1, -(2**63), 1.5e308, "a\x00b", "\U0001f600"], kwargs={"$a.b": [[[]]]}
    )
    accepted = await client.post("/scheduler/periodic-tasks", json=extremes)
    assert accepted.status_code == 201, accepted.text
    stored = (await client.get(f"/scheduler/periodic-tasks/{accepted.json()['id']}")).json()
    assert (stored["args"], stored["kwargs"]) == (extremes["args"], extremes["kwargs"])


async def test_names_and_descriptions_with_a_nul_character_are_refused_on_every_database(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    for field in ("name", "description"):
        response = await client.post(
            "/scheduler/periodic-tasks", json=interval_task(**{field: "a\x00b"})
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", field]
    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    task_url = f"/scheduler/periodic-tasks/{task['id']}"
    assert (await client.patch(task_url, json={"description": "\x00"})).status_code == 422
    assert (await client.get(task_url)).json() == task


async def test_duplicate_names_conflict(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    body = interval_task()
    assert (await client.post("/scheduler/periodic-tasks", json=body)).status_code == 201
    again = await client.post("/scheduler/periodic-tasks", json=body)
    assert again.status_code == 409
    assert again.json()["code"] == "periodic_task_name_taken"


async def test_a_name_taken_by_a_concurrent_request_conflicts_too(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Requests that race each pass the name check before either has written its row; the
    # database's unique name then decides, and the loser gets the same 409, not a 500.
    async def checked_before_the_other_wrote(*_args: Any, **_kwargs: Any) -> bool:
        return False

    monkeypatch.setattr(PeriodicTaskRepository, "name_taken", checked_before_the_other_wrote)
    body = interval_task()
    assert (await client.post("/scheduler/periodic-tasks", json=body)).status_code == 201
    created_again = await client.post("/scheduler/periodic-tasks", json=body)
    other = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    renamed = await client.patch(
        f"/scheduler/periodic-tasks/{other['id']}", json={"name": body["name"]}
    )

    for response in (created_again, renamed):
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "periodic_task_name_taken"
    assert (await client.get(f"/scheduler/periodic-tasks/{other['id']}")).json() == other


async def test_patch_refuses_null_for_required_fields_and_leaves_the_task_unchanged(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    response = await client.patch(f"/scheduler/periodic-tasks/{task['id']}", json={"task": None})
    assert response.status_code == 422
    assert response.json()["code"] == "null_not_allowed"
    assert (await client.get(f"/scheduler/periodic-tasks/{task['id']}")).json() == task


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_openapi_says_which_patch_fields_may_be_null(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/scheduler/openapi.json")).json()
    fields = spec["components"]["schemas"]["PeriodicTaskUpdate"]["properties"]
    nullable = {
        name for name, schema in fields.items() if {"type": "null"} in schema.get("anyOf", [])
    }
    assert nullable == {"start_time", "expires_at", "queue", "priority"}
    assert fields["enabled"]["type"] == "boolean"


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_openapi_states_how_one_off_follows_the_schedule(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/scheduler/openapi.json")).json()["components"]["schemas"]
    create = schemas["PeriodicTaskCreate"]["properties"]["one_off"]["description"]
    update = schemas["PeriodicTaskUpdate"]["properties"]["one_off"]["description"]
    assert "clocked" in create
    assert "clocked_is_one_off" in create
    assert "sets one_off to false unless the same request sets it" in update


async def test_clocked_tasks_are_one_off(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    body = interval_task(schedule={"type": "clocked", "run_at": "2031-05-01T10:00:00+02:00"})
    response = await client.post("/scheduler/periodic-tasks", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["one_off"] is True


async def test_a_task_moved_from_a_clocked_to_a_recurring_schedule_is_no_longer_one_off(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    clocked = {"type": "clocked", "run_at": "2031-05-01T10:00:00Z"}
    recurring: list[dict[str, Any]] = [
        {"type": "interval", "every": 5, "period": "minutes"},
        {"type": "crontab", "minute": "0", "hour": "9"},
        {"type": "solar", "event": "sunrise", "latitude": 48.85, "longitude": 2.35},
    ]
    for schedule in recurring:
        task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
        task_url = f"/scheduler/periodic-tasks/{task['id']}"
        to_clocked = await client.patch(task_url, json={"schedule": clocked})
        assert to_clocked.json()["one_off"] is True
        moved = await client.patch(task_url, json={"schedule": schedule})
        assert moved.status_code == 200, moved.text
        assert moved.json()["one_off"] is False, schedule
        assert (await client.get(task_url)).json()["one_off"] is False


async def test_one_off_sent_with_a_recurring_schedule_wins_and_is_kept_between_recurring_ones(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    clocked = {"type": "clocked", "run_at": "2031-05-01T10:00:00Z"}
    task = await client.post("/scheduler/periodic-tasks", json=interval_task(schedule=clocked))
    task_url = f"/scheduler/periodic-tasks/{task.json()['id']}"
    hourly = {"type": "crontab", "minute": "0"}
    moved = await client.patch(task_url, json={"schedule": hourly, "one_off": True})
    assert moved.status_code == 200, moved.text
    assert moved.json()["one_off"] is True
    every_minute = {"type": "interval", "every": 1, "period": "minutes"}
    assert (await client.patch(task_url, json={"schedule": every_minute})).json()["one_off"]
    assert not (await client.patch(task_url, json={"one_off": False})).json()["one_off"]
    assert not (await client.patch(task_url, json={"schedule": hourly})).json()["one_off"]


async def test_a_clocked_schedule_with_one_off_false_is_refused_and_nothing_changes(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    clocked = {"type": "clocked", "run_at": "2031-05-01T10:00:00Z"}
    refused = await client.post(
        "/scheduler/periodic-tasks", json=interval_task(schedule=clocked, one_off=False)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "clocked_is_one_off"
    assert refused.json()["errors"][0]["loc"] == ["body", "one_off"]
    assert (await client.get("/scheduler/periodic-tasks")).json()["total"] == 0

    recurring = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    recurring_url = f"/scheduler/periodic-tasks/{recurring['id']}"
    response = await client.patch(recurring_url, json={"schedule": clocked, "one_off": False})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "one_off"]
    assert (await client.get(recurring_url)).json() == recurring

    once = await client.post("/scheduler/periodic-tasks", json=interval_task(schedule=clocked))
    once_url = f"/scheduler/periodic-tasks/{once.json()['id']}"
    response = await client.patch(once_url, json={"one_off": False})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "clocked_is_one_off"
    assert (await client.get(once_url)).json() == once.json()


async def test_time_zones_must_be_iana_names_not_the_servers_or_other_zoneinfo_files(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    # Each of these is a file under /usr/share/zoneinfo on common Linux machines.
    refused = ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Paris"]
    for zone in refused:
        schedule = {"type": "crontab", "minute": "0", "timezone": zone}
        response = await client.post(
            "/scheduler/periodic-tasks", json=interval_task(schedule=schedule)
        )
        assert response.status_code == 422, (zone, response.text)
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert problem["errors"][0]["loc"][-1] == "timezone", problem
    assert (await client.get("/scheduler/periodic-tasks")).json()["total"] == 0

    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    task_url = f"/scheduler/periodic-tasks/{task['id']}"
    patched = await client.patch(
        task_url, json={"schedule": {"type": "crontab", "timezone": "localtime"}}
    )
    assert patched.status_code == 422, patched.text
    assert (await client.get(task_url)).json() == task
    for zone in ("UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT-14"):
        schedule = {"type": "crontab", "minute": "0", "timezone": zone}
        accepted = await client.patch(task_url, json={"schedule": schedule})
        assert accepted.status_code == 200, (zone, accepted.text)
        assert accepted.json()["schedule"]["timezone"] == zone


async def test_a_task_stored_with_a_server_dependent_zone_can_still_be_read_and_changed(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
    database_url: str,
) -> None:
    try:
        ZoneInfo("localtime")
    except ZoneInfoNotFoundError:
        pytest.skip("this machine has no 'localtime' zone file")
    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    task_url = f"/scheduler/periodic-tasks/{task['id']}"
    stored = {"type": "crontab", "minute": "0", "timezone": "localtime"}
    await store_directly(database_url, task["id"], schedule=stored, schedule_type="crontab")
    fetched = await client.get(task_url)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["schedule"]["timezone"] == "localtime"
    assert (await client.get("/scheduler/periodic-tasks")).status_code == 200
    renamed = await client.patch(task_url, json={"description": "still here"})
    assert renamed.status_code == 200, renamed.text
    fixed = {"type": "crontab", "minute": "0", "timezone": "Europe/Paris"}
    assert (await client.patch(task_url, json={"schedule": fixed})).status_code == 200


async def test_arguments_with_lone_surrogates_are_refused_on_patch_and_nothing_changes(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    task_url = f"/scheduler/periodic-tasks/{task['id']}"
    for body, field in (
        ('{"args": ["\\ud800"]}', "args"),
        ('{"kwargs": {"k": ["\\udc00"]}}', "kwargs"),
        ('{"kwargs": {"\\ud800": 1}}', "kwargs"),
    ):
        response = await client.patch(
            task_url, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", field]
    assert (await client.get(task_url)).json() == task


async def test_run_now_sends_a_task_and_records_its_run_without_arguments_bson_cannot_hold(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
    database_url: str,
    redis: Redis,
) -> None:
    task = (await client.post("/scheduler/periodic-tasks", json=interval_task())).json()
    await store_directly(database_url, task["id"], kwargs={"\ud800": 1})
    response = await client.post(f"/scheduler/periodic-tasks/{task['id']}/run")
    assert response.status_code == 202, response.text
    # Sent once to the broker's default queue; the run record leaves out what BSON cannot hold.
    assert await redis.llen("celery") == 1
    run = await client.get(f"/scheduler/runs/{response.json()['task_id']}")
    assert run.status_code == 200, run.text
    assert run.json()["state"] == "PENDING"
    assert run.json()["kwargs"] == {}


async def test_run_now_records_arguments_holding_nul_characters_on_every_database(
    client: httpx.AsyncClient,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    body = interval_task(args=["a\x00b"], kwargs={"k": ["\x00"]})
    task = (await client.post("/scheduler/periodic-tasks", json=body)).json()
    assert (task["args"], task["kwargs"]) == (body["args"], body["kwargs"])
    response = await client.post(f"/scheduler/periodic-tasks/{task['id']}/run")
    assert response.status_code == 202, response.text
    run = (await client.get(f"/scheduler/runs/{response.json()['task_id']}")).json()
    assert (run["args"], run["kwargs"]) == (body["args"], body["kwargs"])


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_requests_without_a_valid_token_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/scheduler/periodic-tasks", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["code"] == "missing_token"


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_unknown_run_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/scheduler/runs/no-such-task-id")
    assert response.status_code == 404
    assert response.json()["code"] == "run_not_found"


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
async def test_openapi_marks_every_scheduler_route_with_its_permission(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/scheduler/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    run_now = paths["/periodic-tasks/{task_id}/run"]["post"]
    assert run_now["x-access"] == "permission"
    assert run_now["x-permission"] == "scheduler:POST:/periodic-tasks/{task_id}/run"
    assert paths["/health"]["get"]["x-access"] == "public"


async def test_a_created_task_is_committed_before_the_response_starts(
    settings: SchedulerSettings,
    signer: TokenSigner,
    redis: Redis,
    interval_task: Callable[..., dict[str, Any]],
) -> None:
    # A client holding the 201 may use the task at once through another connection; seen from
    # a second connection when the answer starts to leave.
    app = create_app(settings, keys=signer.keys())
    elsewhere = SqlDatabase(settings.database_url)
    body = interval_task()
    committed_when_answered: list[bool] = []

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                async with elsewhere.session() as session:
                    found = await session.execute(
                        text("SELECT count(*) FROM periodic_tasks WHERE name = :name"),
                        {"name": body["name"]},
                    )
                committed_when_answered.append(found.scalar_one() == 1)
            await send(message)

        await app(scope, receive, watching_send)

    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(watched),
                base_url="http://scheduler",
                headers={"Authorization": f"Bearer {signer.token(adm=True)}"},
            ) as admin,
        ):
            created = await admin.post("/scheduler/periodic-tasks", json=body)
    finally:
        await elsewhere.dispose()

    assert created.status_code == 201, created.text
    assert committed_when_answered == [True]
