"""rbac through the gateway, like a client: grants, patterns, revocation, disabled users."""

import asyncio
from typing import Any

import httpx
import pytest

from testkit.accounts import Accounts, User
from testkit.polling import within

pytestmark = pytest.mark.e2e

# ARCHITECTURE.md: a change made through the API is in force at the gateway within 1 second.
CONTRACT_SECONDS = 1.0


@pytest.fixture
async def user(accounts: Accounts) -> User:
    return await accounts.signed_in()


@pytest.mark.parametrize(
    "path",
    [
        "/auth/health",
        "/rbac/health",
        "/storage/health",
        "/scheduler/health",
        "/auth/keys/public",
        "/auth/.well-known/jwks.json",
        "/rbac/openapi.json",
        "/storage/docs",
        "/docs",
    ],
)
async def test_public_routes_answer_without_a_token(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text


async def test_protected_route_without_a_token_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/scheduler/tasks")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_authorize_is_not_reachable_from_outside(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/rbac/authorize",
        headers={"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/rbac/health"},
    )
    assert response.status_code in (403, 404)


async def test_every_services_routes_are_in_the_registry(admin: httpx.AsyncClient) -> None:
    routes: list[dict[str, Any]] = []
    while True:
        page = await admin.get("/rbac/routes", params={"limit": 200, "offset": len(routes)})
        assert page.status_code == 200, page.text
        routes += page.json()["items"]
        if len(routes) >= page.json()["total"]:
            break
    listed = {(r["service"], r["method"], r["path"]) for r in routes}
    assert {"auth", "rbac", "storage", "scheduler"} <= {service for service, _, _ in listed}
    for route in [
        ("auth", "POST", "/login"),
        ("rbac", "GET", "/routes"),
        ("storage", "POST", "/uploads"),
        ("scheduler", "GET", "/tasks"),
    ]:
        assert route in listed
    login_route = next(r for r in routes if (r["service"], r["path"]) == ("auth", "/login"))
    assert login_route["public"] is True


async def test_user_without_role_is_403_and_a_grant_opens_the_route_within_a_second(
    accounts: Accounts, user: User
) -> None:
    denied = await user.http.get("/scheduler/tasks")
    assert denied.status_code == 403
    await accounts.grant(user.id, "scheduler:GET:/tasks")
    granted = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 200)
    assert granted.status_code == 200, granted.text
    mine = await user.http.get("/rbac/me/permissions")
    assert "scheduler:GET:/tasks" in mine.json()["permissions"]


async def test_pattern_grant_opens_every_matching_route_and_nothing_else(
    accounts: Accounts, user: User
) -> None:
    await accounts.grant(user.id, "storage:GET:*")
    files = await within(CONTRACT_SECONDS, lambda: user.http.get("/storage/files"), 200)
    assert files.status_code == 200, files.text
    upload = await user.http.post(
        "/storage/uploads", json={"filename": "a.txt", "content_type": "text/plain", "size": 1}
    )
    assert upload.status_code == 403
    assert (await user.http.get("/scheduler/tasks")).status_code == 403


async def raw_get(base_url: str, target: str, token: str) -> int:
    """The status of `GET target` sent byte for byte (httpx would normalise dot segments)."""
    parsed = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port or 80)
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parsed.host}\r\n"
        f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode())
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    "target",
    [
        "/storage/files/../buckets",
        "/storage/files/%2e%2e/buckets",
        "/storage/files/..%2Fbuckets",
        "/storage/files/%2E%2E%2Fbuckets",
        "/storage/./buckets",
        "/storage//buckets",
    ],
)
async def test_path_tricks_do_not_reach_a_route_that_is_not_granted(
    mesh: Any, accounts: Accounts, user: User, target: str
) -> None:
    await accounts.grant(user.id, "storage:GET:/files")
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/storage/files"), 200)
    assert opened.status_code == 200
    token = user.http.headers["Authorization"].removeprefix("Bearer ")
    assert await raw_get(mesh.url, target, token) in (400, 403, 404)


async def test_revoked_grant_closes_the_route_within_a_second(
    accounts: Accounts, user: User
) -> None:
    await accounts.grant(user.id, "scheduler:*")
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 200)
    assert opened.status_code == 200
    await accounts.bind(user.id)
    closed = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 403)
    assert closed.status_code == 403


async def test_disabled_user_is_401_within_a_second(
    admin: httpx.AsyncClient, accounts: Accounts, user: User
) -> None:
    await accounts.grant(user.id, "scheduler:GET:/tasks")
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 200)
    assert opened.status_code == 200
    disabled = await admin.patch(f"/auth/users/{user.id}", json={"is_active": False})
    assert disabled.status_code == 200, disabled.text
    refused = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 401)
    assert refused.status_code == 401
    assert (await user.http.get("/rbac/me/permissions")).status_code == 401


async def test_logged_out_session_is_401_at_the_gateway(user: User) -> None:
    assert (await user.http.get("/rbac/me/permissions")).status_code == 200
    assert (await user.http.post("/auth/logout")).status_code == 204
    refused = await within(CONTRACT_SECONDS, lambda: user.http.get("/rbac/me/permissions"), 401)
    assert refused.status_code == 401
