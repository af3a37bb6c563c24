"""Roles, bindings and effective permissions through rbac's own API."""

from datetime import datetime

import pytest

from testkit.rbac_app import Rbac

# Users are named by id, as in a token's `sub`.
U2, U3, U4 = (f"01900000-0000-7000-8000-00000000000{n}" for n in (2, 3, 4))

pytestmark = pytest.mark.usefixtures("storage_registered")


async def test_role_is_created_read_listed_changed_and_deleted(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    body = {
        "code": "editor",
        "name": "Editor",
        "description": "edits files",
        "permissions": ["storage:GET:*", "storage:POST:/uploads"],
    }
    created = await rbac.http.post("/roles", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["permissions"] == ["storage:GET:*", "storage:POST:/uploads"]
    assert created.json()["is_active"] is True
    assert (await rbac.http.get("/roles/editor", headers=admin)).json()["name"] == "Editor"
    listed = (await rbac.http.get("/roles", headers=admin)).json()
    assert listed["total"] == 1
    assert [r["code"] for r in listed["items"]] == ["editor"]
    patched = await rbac.http.patch(
        "/roles/editor", json={"permissions": ["storage:*"], "name": "Ed"}, headers=admin
    )
    assert patched.json()["permissions"] == ["storage:*"]
    assert patched.json()["name"] == "Ed"
    assert (await rbac.http.delete("/roles/editor", headers=admin)).status_code == 204
    missing = await rbac.http.get("/roles/editor", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["code"] == "role_not_found"


async def test_role_timestamps_read_back_are_the_same_utc_instants_as_written(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    created = (
        await rbac.http.post("/roles", json={"code": "t", "name": "T"}, headers=admin)
    ).json()
    fetched = (await rbac.http.get("/roles/t", headers=admin)).json()
    listed = (await rbac.http.get("/roles", headers=admin)).json()["items"][0]
    for role in (fetched, listed):
        assert role["created_at"] == created["created_at"]
        assert role["updated_at"] == created["updated_at"]
    assert datetime.fromisoformat(fetched["created_at"]).utcoffset() is not None
    routes = (await rbac.http.get("/routes", headers=admin)).json()["items"]
    assert all(datetime.fromisoformat(r["updated_at"]).utcoffset() is not None for r in routes)


async def test_duplicate_role_code_is_409(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    body = {"code": "dup", "name": "Dup"}
    assert (await rbac.http.post("/roles", json=body, headers=admin)).status_code == 201
    again = await rbac.http.post("/roles", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "role_exists"


async def test_bad_pattern_is_422_naming_it_and_nothing_is_stored(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    body = {"code": "bad", "name": "Bad", "permissions": ["storage:GET:*", "storage:FETCH:/x"]}
    response = await rbac.http.post("/roles", json=body, headers=admin)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_permission_pattern"
    assert "storage:FETCH:/x" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "permissions", "1"]
    assert (await rbac.http.get("/roles/bad", headers=admin)).status_code == 404


async def test_names_and_descriptions_with_a_nul_character_are_422_on_every_database(
    rbac: Rbac,
) -> None:
    admin = rbac.admin_headers()
    for field, body in (
        ("name", {"code": "nul", "name": "a\x00b"}),
        ("description", {"code": "nul", "name": "N", "description": "\x00"}),
    ):
        response = await rbac.http.post("/roles", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", field]
    assert (await rbac.http.get("/roles/nul", headers=admin)).status_code == 404
    await rbac.http.post("/roles", json={"code": "kept", "name": "Kept"}, headers=admin)
    patched = await rbac.http.patch("/roles/kept", json={"name": "x\x00"}, headers=admin)
    assert patched.status_code == 422, patched.text
    assert (await rbac.http.get("/roles/kept", headers=admin)).json()["name"] == "Kept"


async def test_an_unknown_field_is_refused_rather_than_silently_ignored(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    created = await rbac.http.post(
        "/roles", json={"code": "typo", "name": "T", "permission": ["storage:*"]}, headers=admin
    )
    assert created.status_code == 422
    assert created.json()["errors"][0]["loc"] == ["body", "permission"]
    assert (await rbac.http.get("/roles/typo", headers=admin)).status_code == 404
    await rbac.http.post("/roles", json={"code": "ed", "name": "Ed"}, headers=admin)
    patched = await rbac.http.patch("/roles/ed", json={"permisions": ["storage:*"]}, headers=admin)
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["type"] == "extra_forbidden"
    bound = await rbac.http.put(
        "/users/u9/roles", json={"roles": ["ed"], "role": "x"}, headers=admin
    )
    assert bound.status_code == 422
    assert (await rbac.http.get("/users/u9/roles", headers=admin)).json()["roles"] == []


async def test_permissions_matching_no_route_are_flagged(rbac: Rbac) -> None:
    body = {
        "code": "future",
        "name": "Future",
        "permissions": ["storage:GET:/files", "billing:*", "storage:PUT:/nothing"],
    }
    response = await rbac.http.post("/roles", json=body, headers=rbac.admin_headers())
    assert response.status_code == 201
    assert response.json()["unknown_permissions"] == ["billing:*", "storage:PUT:/nothing"]


async def test_role_in_use_is_deleted_only_when_forced(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    await rbac.http.post(
        "/roles", json={"code": "ops", "name": "Ops", "permissions": ["storage:*"]}, headers=admin
    )
    await rbac.http.put("/users/u-ops/roles", json={"roles": ["ops"]}, headers=admin)
    refused = await rbac.http.delete("/roles/ops", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["code"] == "role_in_use"
    assert (await rbac.http.get("/roles/ops", headers=admin)).status_code == 200
    forced = await rbac.http.delete("/roles/ops", params={"force": "true"}, headers=admin)
    assert forced.status_code == 204
    roles = await rbac.http.get("/users/u-ops/roles", headers=admin)
    assert roles.json() == {"user_id": "u-ops", "roles": []}


async def test_binding_an_unknown_role_is_422_and_keeps_the_old_bindings(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    await rbac.http.post("/roles", json={"code": "viewer", "name": "V"}, headers=admin)
    await rbac.http.put("/users/u1/roles", json={"roles": ["viewer"]}, headers=admin)
    response = await rbac.http.put(
        "/users/u1/roles", json={"roles": ["viewer", "ghost"]}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_role"
    kept = await rbac.http.get("/users/u1/roles", headers=admin)
    assert kept.json()["roles"] == ["viewer"]


async def test_effective_permissions_list_the_registered_routes_granted(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    await rbac.http.post(
        "/roles",
        json={"code": "reader", "name": "R", "permissions": ["storage:GET:*"]},
        headers=admin,
    )
    await rbac.http.put(f"/users/{U2}/roles", json={"roles": ["reader"]}, headers=admin)
    response = await rbac.http.get(f"/users/{U2}/permissions", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["roles"] == ["reader"]
    assert body["patterns"] == ["storage:GET:*"]
    assert body["permissions"] == [
        "storage:GET:/files",
        "storage:GET:/files/{file_id}",
    ]
    mine = await rbac.http.get(
        "/me/permissions", headers={"Authorization": f"Bearer {rbac.signer.token(sub=U2)}"}
    )
    assert mine.status_code == 200
    assert mine.json()["permissions"] == body["permissions"]


async def test_management_api_needs_a_permission_but_me_only_a_token(rbac: Rbac) -> None:
    user = {"Authorization": f"Bearer {rbac.signer.token(sub=U3)}"}
    forbidden = await rbac.http.get("/roles", headers=user)
    assert forbidden.status_code == 403
    assert (await rbac.http.get("/roles")).status_code == 401
    assert (await rbac.http.get("/me/permissions", headers=user)).status_code == 200


async def test_role_granting_rbac_routes_opens_the_management_api(rbac: Rbac) -> None:
    admin = rbac.admin_headers()
    await rbac.http.post(
        "/roles",
        json={"code": "rbac-reader", "name": "R", "permissions": ["rbac:GET:/roles"]},
        headers=admin,
    )
    await rbac.http.put(f"/users/{U4}/roles", json={"roles": ["rbac-reader"]}, headers=admin)
    user = {"Authorization": f"Bearer {rbac.signer.token(sub=U4)}"}
    assert (await rbac.http.get("/roles", headers=user)).status_code == 200
    assert (await rbac.http.post("/roles", json={}, headers=user)).status_code == 403


@pytest.mark.parametrize("field", ["name", "description", "permissions", "is_active"])
async def test_a_patch_that_sets_a_field_to_null_is_refused_and_changes_nothing(
    rbac: Rbac, field: str
) -> None:
    admin = rbac.admin_headers()
    body = {"code": "steady", "name": "Steady", "permissions": ["storage:*"]}
    await rbac.http.post("/roles", json=body, headers=admin)
    beside = {"is_active": False} if field != "is_active" else {"name": "Changed"}

    patched = await rbac.http.patch("/roles/steady", json={field: None, **beside}, headers=admin)

    assert patched.status_code == 422
    assert patched.json()["code"] == "null_not_allowed"
    assert patched.json()["errors"][0]["loc"] == ["body", field]
    after = (await rbac.http.get("/roles/steady", headers=admin)).json()
    assert (after["name"], after["permissions"], after["is_active"]) == (
        "Steady",
        ["storage:*"],
        True,
    )


async def test_the_openapi_shows_no_role_patch_field_as_nullable(rbac: Rbac) -> None:
    schemas = (await rbac.http.get("/openapi.json")).json()["components"]["schemas"]

    for name, field in schemas["RoleUpdate"]["properties"].items():
        assert "anyOf" not in field, name


async def test_the_openapi_asks_for_the_bearer_token_on_every_route_that_needs_one(
    rbac: Rbac,
) -> None:
    schema = (await rbac.http.get("/openapi.json")).json()

    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            requirements = operation.get("security", [])
            if operation["x-access"] == "public":
                assert requirements == [], (method, path)
            else:
                assert {"HTTPBearer": []} in requirements, (method, path)
