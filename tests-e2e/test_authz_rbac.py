"""Issue 14, hole 3, through the gateway: a role manager cannot grant himself what he lacks,
and `/rbac/me/permissions` lists only what the caller can actually call."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from testkit.accounts import Accounts, User
from testkit.polling import within

pytestmark = pytest.mark.e2e

# ARCHITECTURE.md: a change made through the API is in force at the gateway within 1 second.
CONTRACT_SECONDS = 1.0


@pytest.fixture
async def made_roles(admin: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Codes of roles a test's users create; the admin deletes whatever exists of them after."""
    codes: list[str] = []
    yield codes
    for code in codes:
        await admin.delete(f"/rbac/roles/{code}", params={"force": True})


def fresh_code(made_roles: list[str]) -> str:
    code = f"e2e-{uuid.uuid4().hex[:10]}"
    made_roles.append(code)
    return code


@pytest.fixture
async def manager(accounts: Accounts) -> User:
    """A non-admin who manages roles and holds one storage permission besides."""
    user = await accounts.signed_in(await accounts.role("rbac:*", "storage:GET:/files"))
    ready = await within(CONTRACT_SECONDS, lambda: user.http.get("/rbac/roles"), 200)
    assert ready.status_code == 200, ready.text
    return user


def assert_refused(response: httpx.Response, code: str, permission: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["permission"] == permission


@pytest.mark.parametrize(
    ("permission", "code"),
    [("*", "admin_only_permission"), ("storage:*", "permission_not_held")],
)
async def test_a_role_manager_cannot_create_a_role_granting_what_he_does_not_hold(
    manager: User, made_roles: list[str], permission: str, code: str
) -> None:
    role = fresh_code(made_roles)

    response = await manager.http.post(
        "/rbac/roles", json={"code": role, "name": role, "permissions": [permission]}
    )

    assert_refused(response, code, permission)
    assert (await manager.http.get(f"/rbac/roles/{role}")).status_code == 404


@pytest.mark.parametrize(
    ("permission", "code"),
    [("*", "admin_only_permission"), ("storage:*", "permission_not_held")],
)
async def test_a_role_manager_cannot_bind_himself_a_role_granting_what_he_does_not_hold(
    accounts: Accounts, manager: User, permission: str, code: str
) -> None:
    wide = await accounts.role(permission)
    own = (await manager.http.get(f"/rbac/users/{manager.id}/roles")).json()["roles"]

    response = await manager.http.put(
        f"/rbac/users/{manager.id}/roles", json={"roles": [*own, wide]}
    )

    assert_refused(response, code, permission)
    assert (await manager.http.get(f"/rbac/users/{manager.id}/roles")).json()["roles"] == own
    upload = {"filename": "a.txt", "content_type": "text/plain", "size": 1}
    assert (await manager.http.post("/storage/uploads", json=upload)).status_code == 403


async def test_a_role_manager_cannot_widen_his_own_role_by_patch(
    manager: User, made_roles: list[str]
) -> None:
    role = fresh_code(made_roles)
    created = await manager.http.post(
        "/rbac/roles", json={"code": role, "name": role, "permissions": ["storage:GET:/files"]}
    )
    assert created.status_code == 201, created.text
    own = (await manager.http.get(f"/rbac/users/{manager.id}/roles")).json()["roles"]
    bound = await manager.http.put(f"/rbac/users/{manager.id}/roles", json={"roles": [*own, role]})
    assert bound.status_code == 200, bound.text

    widened = await manager.http.patch(
        f"/rbac/roles/{role}", json={"permissions": ["storage:GET:/files", "storage:*"]}
    )

    assert_refused(widened, "permission_not_held", "storage:*")
    after = (await manager.http.get(f"/rbac/roles/{role}")).json()
    assert after["permissions"] == ["storage:GET:/files"]
    upload = {"filename": "a.txt", "content_type": "text/plain", "size": 1}
    assert (await manager.http.post("/storage/uploads", json=upload)).status_code == 403


async def test_a_role_manager_still_delegates_what_he_holds(
    accounts: Accounts, manager: User, made_roles: list[str]
) -> None:
    helper = await accounts.signed_in()
    role = fresh_code(made_roles)
    created = await manager.http.post(
        "/rbac/roles", json={"code": role, "name": role, "permissions": ["storage:GET:/files"]}
    )
    assert created.status_code == 201, created.text

    bound = await manager.http.put(f"/rbac/users/{helper.id}/roles", json={"roles": [role]})

    assert bound.status_code == 200, bound.text
    files = await within(CONTRACT_SECONDS, lambda: helper.http.get("/storage/files"), 200)
    assert files.status_code == 200, files.text


async def test_my_permissions_omit_admin_only_routes_and_list_only_routes_that_answer(
    accounts: Accounts,
) -> None:
    user = await accounts.signed_in(await accounts.role("storage:GET:*", "auth:*"))
    opened = await within(CONTRACT_SECONDS, lambda: user.http.get("/storage/files"), 200)
    assert opened.status_code == 200, opened.text

    mine = await user.http.get("/rbac/me/permissions")

    assert mine.status_code == 200, mine.text
    listed = mine.json()["permissions"]
    assert "storage:GET:/files" in listed
    assert "storage:GET:/buckets" not in listed
    assert not [p for p in listed if p.startswith("auth:") and ":/users" in p], listed
    # Every listed GET without a path parameter answers the caller (a WebSocket route, asked
    # without an upgrade, answers 426 past the gateway's decision).
    for permission in listed:
        service, method, path = permission.split(":", 2)
        if method == "GET" and "{" not in path:
            response = await user.http.get(f"/{service}{path}")
            answered = response.status_code == 200 or (
                response.status_code == 426 and response.json()["code"] == "upgrade_required"
            )
            assert answered, (permission, response.text)
    buckets = await user.http.get("/storage/buckets")
    assert buckets.status_code == 403
    assert buckets.json()["code"] == "admin_required"


async def test_a_users_permissions_as_read_by_others_omit_admin_only_routes_too(
    admin: httpx.AsyncClient, accounts: Accounts
) -> None:
    user = await accounts.signed_in(await accounts.role("storage:GET:*"))

    theirs = await admin.get(f"/rbac/users/{user.id}/permissions")
    mine = await user.http.get("/rbac/me/permissions")

    assert theirs.status_code == 200, theirs.text
    assert "storage:GET:/buckets" not in theirs.json()["permissions"]
    assert theirs.json()["permissions"] == mine.json()["permissions"]


async def test_an_admins_permissions_include_the_admin_only_routes(
    admin: httpx.AsyncClient,
) -> None:
    mine = await admin.get("/rbac/me/permissions")

    assert mine.status_code == 200, mine.text
    assert mine.json()["is_admin"] is True
    assert {"storage:GET:/buckets", "auth:POST:/users"} <= set(mine.json()["permissions"])
