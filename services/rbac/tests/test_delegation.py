"""No escalation through rbac: a non-admin grants, binds and changes only what he holds himself."""

from typing import Any

import httpx
import pytest

from testkit.rbac_app import Rbac

pytestmark = pytest.mark.usefixtures("storage_registered")

MANAGER = "01900000-0000-7000-8000-00000000d001"
OTHER_USER = "01900000-0000-7000-8000-00000000d002"
READER = "01900000-0000-7000-8000-00000000d003"
STAR = "01900000-0000-7000-8000-00000000d004"
# Manages roles (`rbac:*`) and holds a few storage and scheduler permissions of each shape.
MANAGER_GRANTS = [
    "rbac:*",
    "storage:GET:*",
    "storage:POST:/uploads",
    "scheduler:*:/periodic-tasks*",
]

# Each permission a manager holding MANAGER_GRANTS tries to put into a role, and the refusal's
# code (None: allowed).
GRANT_CASES: dict[str, str | None] = {
    "storage:GET:/files": None,
    "storage:GET:/files/{file_id}": None,
    "storage:GET:/files/*": None,
    "storage:GET:*": None,
    "storage:GET:/not-served-yet": None,
    "storage:POST:/uploads": None,
    "scheduler:GET:/periodic-tasks": None,
    "scheduler:*:/periodic-tasks/{task_id}": None,
    "scheduler:DELETE:/periodic-tasks*": None,
    "rbac:*": None,
    "rbac:PUT:/users/{user_id}/roles": None,
    "storage:POST:*": "permission_not_held",
    "storage:*": "permission_not_held",
    "storage:*:*": "permission_not_held",
    "storage:*:/files": "permission_not_held",
    "storage:HEAD:/files": "permission_not_held",
    "storage:DELETE:/files/{file_id}": "permission_not_held",
    "storage:POST:/uploads/{file_id}/complete": "permission_not_held",
    "storage:POST:/uploads*": "permission_not_held",
    "scheduler:*": "permission_not_held",
    "scheduler:*:/periodic-task*": "permission_not_held",
    "storagex:GET:/files": "permission_not_held",
    "auth:*": "permission_not_held",
    "*": "admin_only_permission",
    # Within storage:GET:*, but the route is admin-only: no role can open it.
    "storage:GET:/buckets": "admin_only_permission",
}


def bearer(rbac: Rbac, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {rbac.signer.token(sub=sub)}"}


async def admin_role(rbac: Rbac, code: str, *permissions: str, active: bool = True) -> None:
    body = {"code": code, "name": code, "permissions": list(permissions), "is_active": active}
    created = await rbac.http.post("/roles", json=body, headers=rbac.admin_headers())
    assert created.status_code == 201, created.text


async def admin_bind(rbac: Rbac, user_id: str, *roles: str) -> None:
    bound = await rbac.http.put(
        f"/users/{user_id}/roles", json={"roles": list(roles)}, headers=rbac.admin_headers()
    )
    assert bound.status_code == 200, bound.text


async def role_of(rbac: Rbac, code: str) -> dict[str, Any]:
    response = await rbac.http.get(f"/roles/{code}", headers=rbac.admin_headers())
    assert response.status_code == 200, response.text
    role: dict[str, Any] = response.json()
    return role


async def roles_of(rbac: Rbac, user_id: str) -> list[str]:
    response = await rbac.http.get(f"/users/{user_id}/roles", headers=rbac.admin_headers())
    roles: list[str] = response.json()["roles"]
    return roles


def outcome(response: httpx.Response) -> str | None:
    """None for success, else the problem's code (anything but 2xx or a 403 is a test bug)."""
    if response.is_success:
        return None
    assert response.status_code == 403, response.text
    code: str = response.json()["code"]
    return code


def assert_refusal(response: httpx.Response, code: str, permission: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["permission"] == permission
    assert permission in problem["detail"]


@pytest.fixture
async def manager(rbac: Rbac) -> dict[str, str]:
    await admin_role(rbac, "manager", *MANAGER_GRANTS)
    await admin_bind(rbac, MANAGER, "manager")
    return bearer(rbac, MANAGER)


async def test_a_manager_puts_into_a_new_role_only_what_he_holds_and_never_star_or_admin_routes(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    outcomes: dict[str, str | None] = {}
    for index, permission in enumerate(GRANT_CASES):
        body = {"code": f"r{index}", "name": "R", "permissions": [permission]}
        outcomes[permission] = outcome(await rbac.http.post("/roles", json=body, headers=manager))

    assert outcomes == GRANT_CASES
    listed = (await rbac.http.get("/roles", headers=rbac.admin_headers())).json()["items"]
    stored = {p for role in listed if role["code"] != "manager" for p in role["permissions"]}
    assert stored == {p for p, refused in GRANT_CASES.items() if refused is None}


async def test_a_manager_patches_into_his_role_only_what_he_holds(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    body = {"code": "own", "name": "Own", "permissions": ["storage:GET:/files"]}
    assert (await rbac.http.post("/roles", json=body, headers=manager)).status_code == 201

    outcomes: dict[str, str | None] = {}
    for permission in GRANT_CASES:
        patch = {"permissions": ["storage:GET:/files", permission]}
        response = await rbac.http.patch("/roles/own", json=patch, headers=manager)
        outcomes[permission] = outcome(response)
        if response.status_code == 403:
            assert (await role_of(rbac, "own"))["permissions"] == ["storage:GET:/files"]
        reset = {"permissions": ["storage:GET:/files"]}
        assert (await rbac.http.patch("/roles/own", json=reset, headers=manager)).is_success

    assert outcomes == GRANT_CASES


async def test_a_refused_grant_names_the_permission_and_stores_nothing(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    body = {"code": "sneaky", "name": "S", "permissions": ["storage:GET:/files", "storage:*"]}

    response = await rbac.http.post("/roles", json=body, headers=manager)

    assert_refusal(response, "permission_not_held", "storage:*")
    assert (await rbac.http.get("/roles/sneaky", headers=manager)).status_code == 404


async def test_a_manager_cannot_make_himself_admin_in_all_but_name(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    created = await rbac.http.post(
        "/roles", json={"code": "god", "name": "God", "permissions": ["*"]}, headers=manager
    )
    assert_refusal(created, "admin_only_permission", "*")
    await admin_role(rbac, "root", "*")

    bound = await rbac.http.put(
        f"/users/{MANAGER}/roles", json={"roles": ["manager", "root"]}, headers=manager
    )

    assert_refusal(bound, "admin_only_permission", "*")
    assert bound.json()["role"] == "root"
    assert await roles_of(rbac, MANAGER) == ["manager"]
    token = rbac.signer.token(sub=MANAGER)
    assert (await rbac.authorize("DELETE", "/storage/files/f1", token)).status_code == 403


# Roles an admin made, and the refusal a manager holding MANAGER_GRANTS meets binding each.
BIND_CASES: dict[str, tuple[list[str], str | None, str | None]] = {
    # role: (its permissions, refusal code, the permission named)
    "files-reader": (["storage:GET:/files"], None, None),
    "reader-all": (["storage:GET:*"], None, None),
    "empty": ([], None, None),
    "wide": (["storage:*"], "permission_not_held", "storage:*"),
    "mixed": (["auth:*", "storage:GET:/files"], "permission_not_held", "auth:*"),
    "root": (["*"], "admin_only_permission", "*"),
    "buckets": (["storage:GET:/buckets"], "admin_only_permission", "storage:GET:/buckets"),
}


@pytest.mark.parametrize("target", ["himself", "another user"])
async def test_a_manager_binds_to_anyone_only_roles_whose_grants_he_holds(
    rbac: Rbac, manager: dict[str, str], target: str
) -> None:
    for code, (permissions, _, _) in BIND_CASES.items():
        await admin_role(rbac, code, *permissions)
    user_id, kept = (MANAGER, ["manager"]) if target == "himself" else (OTHER_USER, [])

    for code, (_, refused, permission) in BIND_CASES.items():
        body = {"roles": [*kept, code]}
        response = await rbac.http.put(f"/users/{user_id}/roles", json=body, headers=manager)
        if refused is None:
            assert response.status_code == 200, (code, response.text)
        else:
            assert permission is not None
            assert_refusal(response, refused, permission)
            assert response.json()["role"] == code
            assert await roles_of(rbac, user_id) == kept
        reset = await rbac.http.put(
            f"/users/{user_id}/roles", json={"roles": kept}, headers=manager
        )
        assert reset.status_code == 200, reset.text


async def test_an_inactive_role_is_judged_by_what_it_would_grant(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    await admin_role(rbac, "dormant", "storage:*", active=False)
    bound = await rbac.http.put(
        f"/users/{MANAGER}/roles", json={"roles": ["manager", "dormant"]}, headers=manager
    )
    assert_refusal(bound, "permission_not_held", "storage:*")
    # Bound by an admin, it still cannot be switched on by the manager who would gain by it.
    await admin_bind(rbac, MANAGER, "manager", "dormant")

    woken = await rbac.http.patch("/roles/dormant", json={"is_active": True}, headers=manager)

    assert_refusal(woken, "permission_not_held", "storage:*")
    assert (await role_of(rbac, "dormant"))["is_active"] is False
    token = rbac.signer.token(sub=MANAGER)
    assert (await rbac.authorize("DELETE", "/storage/files/f1", token)).status_code == 403


async def test_a_manager_takes_away_only_roles_whose_grants_he_holds(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    await admin_role(rbac, "wide", "storage:*")
    await admin_role(rbac, "files-reader", "storage:GET:/files")
    await admin_bind(rbac, "victim", "wide", "files-reader")

    stripped = await rbac.http.put("/users/victim/roles", json={"roles": []}, headers=manager)

    assert_refusal(stripped, "permission_not_held", "storage:*")
    assert stripped.json()["role"] == "wide"
    assert await roles_of(rbac, "victim") == ["files-reader", "wide"]
    # A role the user keeps is not judged: the manager changes only what is his to change.
    kept = await rbac.http.put("/users/victim/roles", json={"roles": ["wide"]}, headers=manager)
    assert kept.status_code == 200, kept.text
    assert await roles_of(rbac, "victim") == ["wide"]


async def test_a_role_broader_than_the_managers_grants_is_not_his_to_change_or_delete(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    await admin_role(rbac, "wide", "storage:*", "storage:GET:/files")
    before = await role_of(rbac, "wide")

    for change in (
        {"name": "Harmless"},
        {"is_active": False},
        {"permissions": ["storage:GET:/files"]},
        {"permissions": ["storage:*", "storage:DELETE:/files/{file_id}"]},
    ):
        response = await rbac.http.patch("/roles/wide", json=change, headers=manager)
        assert_refusal(response, "permission_not_held", "storage:*")
    for params in ({}, {"force": "true"}):
        response = await rbac.http.delete("/roles/wide", params=params, headers=manager)
        assert_refusal(response, "permission_not_held", "storage:*")

    assert await role_of(rbac, "wide") == before


async def test_a_role_within_the_managers_grants_is_his_to_change_and_delete(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    await admin_role(rbac, "files-reader", "storage:GET:/files")
    await admin_bind(rbac, READER, "files-reader")

    renamed = await rbac.http.patch(
        "/roles/files-reader",
        json={"name": "Reader", "permissions": ["storage:GET:*"]},
        headers=manager,
    )
    deleted = await rbac.http.delete(
        "/roles/files-reader", params={"force": "true"}, headers=manager
    )

    assert renamed.status_code == 200, renamed.text
    assert deleted.status_code == 204, deleted.text
    assert await roles_of(rbac, READER) == []


async def test_a_manager_cannot_widen_the_role_that_makes_him_a_manager(
    rbac: Rbac, manager: dict[str, str]
) -> None:
    response = await rbac.http.patch(
        "/roles/manager", json={"permissions": [*MANAGER_GRANTS, "storage:*"]}, headers=manager
    )

    assert_refusal(response, "permission_not_held", "storage:*")
    assert (await role_of(rbac, "manager"))["permissions"] == sorted(MANAGER_GRANTS)


async def test_a_non_admin_holding_star_still_cannot_hand_out_star(rbac: Rbac) -> None:
    await admin_role(rbac, "root", "*")
    await admin_bind(rbac, STAR, "root")
    star = bearer(rbac, STAR)

    refused = await rbac.http.post(
        "/roles", json={"code": "again", "name": "A", "permissions": ["*"]}, headers=star
    )
    rebound = await rbac.http.put(
        f"/users/{OTHER_USER}/roles", json={"roles": ["root"]}, headers=star
    )
    allowed = await rbac.http.post(
        "/roles", json={"code": "st", "name": "S", "permissions": ["storage:*"]}, headers=star
    )

    assert_refusal(refused, "admin_only_permission", "*")
    assert_refusal(rebound, "admin_only_permission", "*")
    assert allowed.status_code == 201, allowed.text


async def test_admins_grant_and_bind_anything(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    created = await rbac.http.post(
        "/roles",
        json={"code": "all", "name": "All", "permissions": ["*", "storage:GET:/buckets"]},
        headers=admin,
    )
    bound = await rbac.http.put("/users/u-all/roles", json={"roles": ["all"]}, headers=admin)
    patched = await rbac.http.patch("/roles/all", json={"is_active": False}, headers=admin)
    removed = await rbac.http.put("/users/u-all/roles", json={"roles": []}, headers=admin)

    assert [r.status_code for r in (created, bound, patched, removed)] == [201, 200, 200, 200]


async def test_my_permissions_list_no_admin_only_route_to_a_non_admin_whatever_he_holds(
    rbac: Rbac,
) -> None:
    await admin_role(rbac, "reader-all", "storage:GET:*")
    await admin_role(rbac, "root", "*")
    await admin_bind(rbac, READER, "reader-all")
    await admin_bind(rbac, STAR, "root")

    reader = (await rbac.http.get("/me/permissions", headers=bearer(rbac, READER))).json()
    star = (await rbac.http.get("/me/permissions", headers=bearer(rbac, STAR))).json()
    other = await rbac.http.get(f"/users/{READER}/permissions", headers=rbac.admin_headers())

    assert reader["permissions"] == ["storage:GET:/files", "storage:GET:/files/{file_id}"]
    assert reader["is_admin"] is False
    assert "storage:GET:/buckets" not in star["permissions"]
    assert "storage:POST:/uploads" in star["permissions"]
    assert other.json()["permissions"] == reader["permissions"]
    # rbac cannot tell whether another user is an admin (auth keeps that flag): it does not say.
    assert other.json()["is_admin"] is None


async def test_my_permissions_list_the_admin_only_routes_to_an_admin(rbac: Rbac) -> None:
    mine = (await rbac.http.get("/me/permissions", headers=rbac.admin_headers())).json()

    assert mine["is_admin"] is True
    assert "storage:GET:/buckets" in mine["permissions"]
    assert "storage:DELETE:/files/{file_id}" in mine["permissions"]
    assert "storage:GET:/me" not in mine["permissions"]  # authenticated: no grant needed
