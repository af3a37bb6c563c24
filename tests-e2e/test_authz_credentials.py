"""Credentials through the gateway: one per request, judged the same way by the gateway's
decision and by the service that acts on it; tokens auth never issues are refused, not a 500."""

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from mesh.supervisor import Mesh
from testkit.accounts import Account, Accounts
from testkit.auth_client import login
from testkit.credential_shapes import HEADER_SHAPES, HeaderShape

pytestmark = pytest.mark.e2e

UPLOAD = {"filename": "borrowed.txt", "content_type": "text/plain", "size": 5}


async def _token(http: httpx.AsyncClient, account: Account) -> str:
    return (await login(http, account.username, account.password)).access_token


def _bearers(*tokens: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}") for token in tokens]


async def _files_owned_by(admin: httpx.AsyncClient, user_id: str) -> list[dict[str, Any]]:
    owned: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = await admin.get("/storage/files", params={"limit": 100, "offset": offset})
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        owned += [item for item in items if item["owner_id"] == user_id]
        offset += len(items)
        if not items or offset >= page.json()["total"]:
            return owned


async def test_a_second_authorization_header_cannot_borrow_another_users_permission(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, accounts: Accounts
) -> None:
    carol = await accounts.create()
    alice = await accounts.create(await accounts.role("storage:POST:/uploads"))
    carol_token, alice_token = await _token(http, carol), await _token(http, alice)

    attempts = {
        "carol then alice": _bearers(carol_token, alice_token),
        "alice then carol": _bearers(alice_token, carol_token),
        "folded into one": [("Authorization", f"Bearer {carol_token}, Bearer {alice_token}")],
    }
    answers = {
        name: await http.post("/storage/uploads", json=UPLOAD, headers=headers)
        for name, headers in attempts.items()
    }

    for name, response in answers.items():
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "multiple_credentials", name
    assert await _files_owned_by(admin, carol.id) == []
    # Alice's token alone still uploads: the refusals above are about the second credential.
    alone = await http.post("/storage/uploads", json=UPLOAD, headers=_bearers(alice_token))
    assert alone.status_code == 201, alone.text
    deleted = await admin.delete(f"/storage/files/{alone.json()['file_id']}")
    assert deleted.status_code == 204


@pytest.mark.parametrize("shape", HEADER_SHAPES, ids=str)
async def test_the_gateway_accepts_exactly_one_bearer_credential(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, accounts: Accounts, shape: HeaderShape
) -> None:
    # The table the decision's and the services' own tests use; here Traefik sits in between.
    carol = await accounts.create()
    own = await _token(http, carol)
    admin_token = admin.headers["Authorization"].removeprefix("Bearer ")

    response = await http.get("/auth/me", headers=shape.headers(own, admin_token))

    if shape.refused_with is None:
        assert response.status_code == 200, response.text
        assert response.json()["id"] == carol.id
    else:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == shape.refused_with


def _forge(mesh: object, admin: httpx.AsyncClient, **claims: Any) -> str:
    """A token signed with the mesh's own key: what auth would sign, with `claims` changed."""
    if not isinstance(mesh, Mesh):
        pytest.skip("signing with the mesh's key needs a local mesh")
    pem = (Path(mesh.environment.env["AUTH_STATE_DIR"]) / "auth-private-key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    issued = admin.headers["Authorization"].removeprefix("Bearer ")
    header = jwt.get_unverified_header(issued)
    payload = {**jwt.decode(issued, options={"verify_signature": False}), **claims}
    payload["jti"] = str(uuid.uuid4())
    return jwt.encode(payload, key, algorithm="RS256", headers=header)  # type: ignore[arg-type]


@pytest.mark.parametrize("sub", ["admin", "not-a-user", "42"])
async def test_a_validly_signed_token_whose_subject_is_not_a_user_id_is_401(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, mesh: object, sub: str
) -> None:
    token = _forge(mesh, admin, sub=sub)

    for path in ("/auth/me", "/storage/files", "/scheduler/periodic-tasks"):
        response = await http.get(path, headers=_bearers(token))
        assert response.status_code == 401, f"{path}: {response.status_code} {response.text}"
        assert response.json()["code"] == "invalid_token"


async def test_a_validly_signed_token_living_ten_years_is_401(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, mesh: object
) -> None:
    now = int(time.time())
    token = _forge(mesh, admin, iat=now, exp=now + 10 * 365 * 24 * 3600)

    response = await http.get("/auth/me", headers=_bearers(token))

    assert response.status_code == 401, response.text
    assert response.json()["detail"] == "access token rejected: token lifetime too long"
