"""Through the gateway, requests are held to what the OpenAPI says: JSON booleans and numbers
are not coerced from other types, query integers are digits, and a method a path is not served
with is a 405 naming the ones it is."""

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

INTERVAL = {"type": "interval", "every": 3600}
TASK = {"name": "e2e-strict", "task": "demo.add", "schedule": INTERVAL}
UPLOAD = {"filename": "a.txt", "content_type": "text/plain", "size": 1}


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("PATCH", "/auth/users/{me}", {"is_active": 0}, ["body", "is_active"]),
        ("PATCH", "/auth/users/{me}", {"is_active": "yes"}, ["body", "is_active"]),
        ("PATCH", "/auth/users/{me}", {"is_admin": "true"}, ["body", "is_admin"]),
        (
            "POST",
            "/rbac/roles",
            {"code": "e2e-x", "name": "x", "is_active": 1},
            ["body", "is_active"],
        ),
        ("POST", "/storage/uploads", {**UPLOAD, "size": "10"}, ["body", "size"]),
        ("POST", "/storage/uploads", {**UPLOAD, "size": 10.0}, ["body", "size"]),
        ("POST", "/storage/uploads", {**UPLOAD, "expires_in": "60"}, ["body", "expires_in"]),
        ("POST", "/scheduler/periodic-tasks", {**TASK, "enabled": "yes"}, ["body", "enabled"]),
        ("POST", "/scheduler/periodic-tasks", {**TASK, "priority": "5"}, ["body", "priority"]),
        (
            "POST",
            "/scheduler/periodic-tasks",
            {**TASK, "schedule": {**INTERVAL, "every": "10"}},
            ["body", "schedule", "interval", "every"],
        ),
        (
            "POST",
            "/scheduler/periodic-tasks",
            {
                **TASK,
                "schedule": {
                    "type": "solar",
                    "event": "sunset",
                    "latitude": "48.8",
                    "longitude": 2,
                },
            },
            ["body", "schedule", "solar", "latitude"],
        ),
        (
            "POST",
            "/scheduler/periodic-tasks",
            {**TASK, "start_time": 1900000000},
            ["body", "start_time"],
        ),
    ],
)
async def test_a_body_value_of_another_json_type_than_the_schema_says_is_422(
    admin: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], loc: list[str]
) -> None:
    me = (await admin.get("/auth/me")).json()["id"]
    response = await admin.request(method, path.format(me=me), json=body)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [loc]


async def test_json_numbers_and_instants_of_the_right_type_still_pass(
    admin: httpx.AsyncClient,
) -> None:
    body = {
        **TASK,
        "name": "e2e-strict-ok",
        "enabled": False,
        "schedule": {"type": "solar", "event": "sunset", "latitude": 48, "longitude": 2.35},
        "start_time": "2030-01-01T09:00:00+01:00",
    }
    created = await admin.post("/scheduler/periodic-tasks", json=body)
    assert created.status_code == 201, created.text
    task = created.json()
    await admin.delete(f"/scheduler/periodic-tasks/{task['id']}")
    assert task["schedule"]["latitude"] == 48.0
    assert task["start_time"].startswith("2030-01-01T08:00:00")


@pytest.mark.parametrize("limit", ["1.0", "1_0", "1e1"])
async def test_a_query_integer_that_is_not_digits_is_422(
    admin: httpx.AsyncClient, limit: str
) -> None:
    response = await admin.get("/storage/files", params={"limit": limit})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "limit"]]


@pytest.mark.parametrize("method", ["TRACE", "PUT", "PROPFIND"])
@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/auth/me", "GET, HEAD"),
        ("/rbac/roles", "GET, HEAD, POST"),
        ("/storage/files", "GET, HEAD"),
        ("/scheduler/periodic-tasks", "GET, HEAD, POST"),
    ],
)
@pytest.mark.parametrize("signed_in", [False, True])
async def test_a_method_the_path_is_not_served_with_is_405_with_allow(
    http: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    method: str,
    path: str,
    allow: str,
    signed_in: bool,
) -> None:
    client = admin if signed_in else http
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


async def test_connect_is_refused_by_the_gateway_itself(http: httpx.AsyncClient) -> None:
    # Traefik does not tunnel: it answers CONNECT with 501 before routing, on every path.
    response = await http.request("CONNECT", "/storage/files")
    assert response.status_code == 501
