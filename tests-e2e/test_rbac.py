"""rbac through the gateway, like a client: grants, patterns, revocation, disabled users."""

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from testkit.auth_client import login

pytestmark = pytest.mark.e2e

# ARCHITECTURE.md: a change made through the API is in force at the gateway within 1 second.
CONTRACT_SECONDS = 1.0


async def within(
    seconds: float, probe: Callable[[], Awaitable[httpx.Response]], status: int
) -> httpx.Response:
    """Poll until `probe` answers `status` or `seconds` have passed; the last response."""
    deadline = time.monotonic() + seconds
    while True:
        response = await probe()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.02)


@pytest.fixture
async def admin(mesh: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as http:
        pair = await login(http, mesh.admin_username, mesh.admin_password)
        http.headers["Authorization"] = f"Bearer {pair.access_token}"
        yield http


class User:
    def __init__(self, user_id: str, http: httpx.AsyncClient) -> None:
        self.id = user_id
        self.http = http


@pytest.fixture
async def user(mesh: Any, admin: httpx.AsyncClient) -> AsyncIterator[User]:
    username = f"e2e-{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(24)
    created = await admin.post(
        "/auth/users", json={"username": username, "password": password, "name": "E2E User"}
    )
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as http:
        pair = await login(http, username, password)
        http.headers["Authorization"] = f"Bearer {pair.access_token}"
        yield User(created.json()["id"], http)


async def create_role(admin: httpx.AsyncClient, *permissions: str) -> str:
    code = f"e2e-{uuid.uuid4().hex[:10]}"
    response = await admin.post(
        "/rbac/roles", json={"code": code, "name": code, "permissions": list(permissions)}
    )
    assert response.status_code == 201, response.text
    return code


async def bind(admin: httpx.AsyncClient, user: User, *roles: str) -> None:
    response = await admin.put(f"/rbac/users/{user.id}/roles", json={"roles": list(roles)})
    assert response.status_code == 200, response.text


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
async def test_public_routes_answer_without_a_token(mesh: Any, path: str) -> None:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as http:
        response = await http.get(path)
    assert response.status_code == 200, response.text


async def test_protected_route_without_a_token_is_401(mesh: Any) -> None:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as http:
        response = await http.get("/scheduler/tasks")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_authorize_is_not_reachable_from_outside(mesh: Any) -> None:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as http:
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
    admin: httpx.AsyncClient, user: User
) -> None:
    denied = await user.http.get("/scheduler/tasks")
    assert denied.status_code == 403
    await bind(admin, user, await create_role(admin, "scheduler:GET:/tasks"))
    granted = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 200)
    assert granted.status_code == 200, granted.text
    mine = await user.http.get("/rbac/me/permissions")
    assert "scheduler:GET:/tasks" in mine.json()["permissions"]


async def test_pattern_grant_opens_every_matching_route_and_nothing_else(
    admin: httpx.AsyncClient, user: User
) -> None:
    await bind(admin, user, await create_role(admin, "storage:GET:*"))
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
    mesh: Any, admin: httpx.AsyncClient, user: User, target: str
) -> None:
    await bind(admin, user, await create_role(admin, "storage:GET:/files"))
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/storage/files"), 200)
    assert opened.status_code == 200
    token = user.http.headers["Authorization"].removeprefix("Bearer ")
    assert await raw_get(mesh.url, target, token) in (400, 403, 404)


async def test_revoked_grant_closes_the_route_within_a_second(
    admin: httpx.AsyncClient, user: User
) -> None:
    await bind(admin, user, await create_role(admin, "scheduler:*"))
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 200)
    assert opened.status_code == 200
    await bind(admin, user)
    closed = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 403)
    assert closed.status_code == 403


async def test_disabled_user_is_401_within_a_second(admin: httpx.AsyncClient, user: User) -> None:
    await bind(admin, user, await create_role(admin, "scheduler:GET:/tasks"))
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 200)
    assert opened.status_code == 200
    disabled = await admin.patch(f"/auth/users/{user.id}", json={"is_active": False})
    assert disabled.status_code == 200, disabled.text
    refused = await within(CONTRACT_SECONDS, lambda: user.http.get("/scheduler/tasks"), 401)
    assert refused.status_code == 401
    assert (await user.http.get("/rbac/me/permissions")).status_code == 401


async def test_logged_out_session_is_401_at_the_gateway(
    admin: httpx.AsyncClient, user: User
) -> None:
    assert (await user.http.get("/rbac/me/permissions")).status_code == 200
    assert (await user.http.post("/auth/logout")).status_code == 204
    refused = await within(CONTRACT_SECONDS, lambda: user.http.get("/rbac/me/permissions"), 401)
    assert refused.status_code == 401
