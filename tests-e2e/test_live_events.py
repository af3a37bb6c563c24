"""Live events through the gateway: run events on the scheduler's socket, like a client.

Sockets are opened at the gateway's URL only: its decision judges every upgrade (token, ticket,
permission `scheduler:GET:/events`), and the service judges the caller again.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from testkit.accounts import Accounts
from testkit.gateway import Gateway

pytestmark = pytest.mark.e2e

RUN_DONE = {"SUCCESS", "FAILURE", "LOST"}
WAIT = 30.0


@pytest.fixture
def http_timeout() -> float:
    return 30


def socket_url(mesh: Gateway, query: str = "") -> str:
    return mesh.url.replace("http://", "ws://", 1) + "/scheduler/events" + query


def bearer(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": http.headers["Authorization"]}


async def receive(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


async def run_events(ws: ClientConnection, run_id: str) -> list[str]:
    """The states of run `run_id` as they arrive, until it ends."""
    states: list[str] = []
    while not states or states[-1] not in RUN_DONE:
        message = await receive(ws)
        if message["type"] == "event" and message["data"]["task_id"] == run_id:
            states.append(message["data"]["state"])
    return states


async def _drain(ws: ClientConnection) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), WAIT)


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def refused_status(url: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers):
            pass
    return refused.value.response.status_code


TaskMaker = Callable[[httpx.AsyncClient], Awaitable[dict[str, Any]]]


@pytest.fixture
async def make_task() -> AsyncIterator[TaskMaker]:
    """A disabled periodic task of `demo.add` owned by the client's user (run it with run now)."""
    made: list[tuple[httpx.AsyncClient, str]] = []

    async def make(http: httpx.AsyncClient) -> dict[str, Any]:
        body = {
            "name": f"e2e-live-{uuid.uuid4().hex[:8]}",
            "task": "demo.add",
            "args": [20, 22],
            "enabled": False,
            "schedule": {"type": "interval", "every": 3600, "period": "seconds"},
        }
        response = await http.post("/scheduler/periodic-tasks", json=body)
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        made.append((http, task["id"]))
        return task

    yield make
    for http, task_id in made:
        await http.delete(f"/scheduler/periodic-tasks/{task_id}")


async def run_now(http: httpx.AsyncClient, task_id: str) -> str:
    accepted = await http.post(f"/scheduler/periodic-tasks/{task_id}/run")
    assert accepted.status_code == 202, accepted.text
    run_id: str = accepted.json()["task_id"]
    return run_id


async def test_own_run_events_arrive_and_others_never_do(
    mesh: Gateway, accounts: Accounts, make_task: TaskMaker
) -> None:
    alice = await accounts.signed_in(await accounts.role("scheduler:*"))
    bob = await accounts.signed_in(await accounts.role("scheduler:*"))
    alices, bobs = await make_task(alice.http), await make_task(bob.http)
    async with (
        connect(socket_url(mesh), additional_headers=bearer(alice.http)) as alice_ws,
        connect(socket_url(mesh), additional_headers=bearer(bob.http)) as bob_ws,
    ):
        assert (await receive(alice_ws))["type"] == "welcome"
        assert (await receive(bob_ws))["type"] == "welcome"
        alice_run = await run_now(alice.http, alices["id"])
        states = await run_events(alice_ws, alice_run)
        assert states[0] in ("PENDING", "STARTED")
        assert states[-1] == "SUCCESS"
        bob_run = await run_now(bob.http, bobs["id"])
        # Bob's socket carries his own run, and nothing of Alice's came before it.
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["data"]["state"] not in RUN_DONE:
            message = await receive(bob_ws)
            if message["type"] == "event":
                seen.append(message)
        assert {m["data"]["task_id"] for m in seen} == {bob_run}
        assert {m["data"]["periodic_task_id"] for m in seen} == {bobs["id"]}


async def test_a_filter_narrows_to_one_task_and_an_unknown_filter_closes(
    mesh: Gateway, accounts: Accounts, make_task: TaskMaker
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    watched, other = await make_task(user.http), await make_task(user.http)
    query = f"?periodic_task_id={watched['id']}"
    async with connect(socket_url(mesh, query), additional_headers=bearer(user.http)) as ws:
        await receive(ws)
        await run_now(user.http, other["id"])
        run = await run_now(user.http, watched["id"])
        assert (await run_events(ws, run))[-1] == "SUCCESS"
    async with connect(socket_url(mesh, "?colour=red"), additional_headers=bearer(user.http)) as ws:
        assert await closed_with(ws) == (4400, "unknown_filter: colour")


async def test_a_ticket_opens_one_socket_once_and_is_refused_at_the_gateway_after(
    mesh: Gateway, accounts: Accounts, make_task: TaskMaker
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    task = await make_task(user.http)
    issued = await user.http.post("/scheduler/events/tickets")
    assert issued.status_code == 201, issued.text
    ticket = issued.json()["ticket"]
    async with connect(socket_url(mesh, f"?ticket={ticket}")) as ws:
        assert (await receive(ws))["type"] == "welcome"
        run = await run_now(user.http, task["id"])
        assert (await run_events(ws, run))[-1] == "SUCCESS"
    assert await refused_status(socket_url(mesh, f"?ticket={ticket}")) == 401
    assert await refused_status(socket_url(mesh, "?ticket=made-up")) == 401
    assert await refused_status(socket_url(mesh)) == 401


async def test_the_socket_has_its_own_permission_code_in_the_registry(
    admin: httpx.AsyncClient,
) -> None:
    page = await admin.get("/rbac/routes", params={"limit": 200})
    routes = {(r["service"], r["method"], r["path"]): r for r in page.json()["items"]}
    for service in ("scheduler", "storage"):
        socket = routes[(service, "GET", "/events")]
        assert (socket["permission"], socket["access"]) == (f"{service}:GET:/events", "permission")
        assert routes[(service, "POST", "/events/tickets")]["access"] == "authenticated"


async def test_a_user_without_the_permission_is_refused_at_the_upgrade(
    mesh: Gateway, accounts: Accounts
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:POST:*"))
    assert await refused_status(socket_url(mesh), bearer(user.http)) == 403
    ticket = (await user.http.post("/scheduler/events/tickets")).json()["ticket"]
    assert await refused_status(socket_url(mesh, f"?ticket={ticket}")) == 403


async def test_logout_closes_the_socket_within_a_second(mesh: Gateway, accounts: Accounts) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    async with connect(socket_url(mesh), additional_headers=bearer(user.http)) as ws:
        await receive(ws)
        started = time.monotonic()
        assert (await user.http.post("/auth/logout")).status_code == 204
        assert await closed_with(ws) == (4401, "session_revoked")
        assert time.monotonic() - started < 1.0


async def test_disabling_the_user_closes_the_socket_within_a_second(
    mesh: Gateway, admin: httpx.AsyncClient, accounts: Accounts
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    async with connect(socket_url(mesh), additional_headers=bearer(user.http)) as ws:
        await receive(ws)
        started = time.monotonic()
        disabled = await admin.patch(f"/auth/users/{user.id}", json={"is_active": False})
        assert disabled.status_code == 200, disabled.text
        code, _reason = await closed_with(ws)
        assert code == 4401
        assert time.monotonic() - started < 1.0


async def test_taking_the_role_away_closes_the_socket_within_a_second(
    mesh: Gateway, accounts: Accounts
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    async with connect(socket_url(mesh), additional_headers=bearer(user.http)) as ws:
        await receive(ws)
        started = time.monotonic()
        await accounts.bind(user.id)
        assert await closed_with(ws) == (4403, "permission_denied")
        assert time.monotonic() - started < 1.0


async def test_resume_after_a_disconnect_loses_nothing(
    mesh: Gateway, accounts: Accounts, make_task: TaskMaker
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    task = await make_task(user.http)
    async with connect(socket_url(mesh), additional_headers=bearer(user.http)) as ws:
        last_seen = (await receive(ws))["last_event_id"]
    # Disconnected while the run goes through all its states.
    run = await run_now(user.http, task["id"])

    async def finished() -> bool:
        record = await user.http.get(f"/scheduler/runs/{run}")
        return record.status_code == 200 and record.json()["state"] == "SUCCESS"

    deadline = time.monotonic() + WAIT
    while not await finished():
        assert time.monotonic() < deadline, "the run did not finish"
        await asyncio.sleep(0.2)
    query = f"?last_event_id={last_seen}"
    async with connect(socket_url(mesh, query), additional_headers=bearer(user.http)) as ws:
        assert (await receive(ws))["type"] == "welcome"
        assert await run_events(ws, run) == ["PENDING", "STARTED", "SUCCESS"]


async def test_an_admin_may_watch_everyones_runs(
    mesh: Gateway, admin: httpx.AsyncClient, accounts: Accounts, make_task: TaskMaker
) -> None:
    user = await accounts.signed_in(await accounts.role("scheduler:*"))
    task = await make_task(user.http)
    async with connect(socket_url(mesh, "?scope=all"), additional_headers=bearer(admin)) as ws:
        await receive(ws)
        run = await run_now(user.http, task["id"])
        assert (await run_events(ws, run))[-1] == "SUCCESS"
    async with connect(socket_url(mesh, "?scope=all"), additional_headers=bearer(user.http)) as ws:
        assert await closed_with(ws) == (4403, "admin_required")


def storage_socket_url(mesh: Gateway, query: str = "") -> str:
    return mesh.url.replace("http://", "ws://", 1) + "/storage/events" + query


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if message["type"] == "event":
            return message


async def test_storage_files_become_ready_and_deleted_on_the_owners_socket_only(
    mesh: Gateway, accounts: Accounts
) -> None:
    alice = await accounts.signed_in(await accounts.role("storage:*"))
    bob = await accounts.signed_in(await accounts.role("storage:*"))
    data = b"live events\n"
    async with (
        connect(storage_socket_url(mesh), additional_headers=bearer(alice.http)) as alice_ws,
        connect(storage_socket_url(mesh), additional_headers=bearer(bob.http)) as bob_ws,
        httpx.AsyncClient(timeout=30) as s3,
    ):
        await receive(alice_ws)
        await receive(bob_ws)
        body = {"filename": "live.txt", "content_type": "text/plain", "size": len(data)}
        upload = (await alice.http.post("/storage/uploads", json=body)).json()
        put = await s3.put(upload["upload_url"], content=data, headers=upload["headers"])
        assert put.status_code == 200, put.text
        done = await alice.http.post(f"/storage/uploads/{upload['file_id']}/complete")
        assert done.status_code == 200, done.text
        ready = await next_event(alice_ws)
        assert (ready["event"], ready["data"]["id"]) == ("file.ready", upload["file_id"])
        assert ready["data"]["owner_id"] == alice.id
        deleted = await alice.http.delete(f"/storage/files/{upload['file_id']}")
        assert deleted.status_code == 204
        gone = await next_event(alice_ws)
        assert (gone["event"], gone["data"]["id"]) == ("file.deleted", upload["file_id"])
        await bob_ws.send('{"type": "ping"}')
        # Bob's socket had nothing before his pong: no event of Alice's file reached him.
        assert (await receive(bob_ws))["type"] == "pong"


async def test_a_ticket_for_another_services_socket_is_refused(
    mesh: Gateway, accounts: Accounts
) -> None:
    user = await accounts.signed_in(
        await accounts.role("storage:*"), await accounts.role("scheduler:*")
    )
    ticket = (await user.http.post("/storage/events/tickets")).json()["ticket"]
    assert await refused_status(socket_url(mesh, f"?ticket={ticket}")) == 401
    # ... and it is burnt: the socket it was issued for refuses it too.
    assert await refused_status(storage_socket_url(mesh, f"?ticket={ticket}")) == 401
