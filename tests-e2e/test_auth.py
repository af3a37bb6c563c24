"""auth through the gateway, like a client: RSA login, refresh rotation, revocation, throttling,
and access tokens the gateway must refuse."""

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.supervisor import Mesh
from testkit.accounts import Account, Accounts
from testkit.auth_client import TokenPair, encrypted_login_body, login, refresh
from testkit.polling import within

pytestmark = pytest.mark.e2e

# ARCHITECTURE.md: revocation takes effect at the gateway at once; allow a second of propagation.
REVOCATION_SECONDS = 1.0
# REFRESH_REUSE_GRACE_SECONDS default (2 s), plus a margin.
PAST_GRACE_SECONDS = 2.5
PROTECTED = "/auth/me"


@pytest.fixture
def http(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """The anonymous gateway client with one User-Agent: auth binds refresh tokens to it."""
    http.headers["User-Agent"] = "e2e-auth/1.0"
    return http


@pytest.fixture
async def account(accounts: Accounts) -> Account:
    return await accounts.create()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get(PROTECTED, headers=bearer(token))


async def test_login_with_client_side_rsa_oaep_gives_a_working_access_token(
    http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    response = await me(http, pair.access_token)

    assert response.status_code == 200
    assert response.json()["username"] == account.username
    header = jwt.get_unverified_header(pair.access_token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    jwks = (await http.get("/auth/.well-known/jwks.json")).json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}


async def test_a_replayed_login_ciphertext_is_refused(
    http: httpx.AsyncClient, account: Account
) -> None:
    body = await encrypted_login_body(http, account.username, account.password)

    first = await http.post("/auth/login", json=body)
    replay = await http.post("/auth/login", json=body)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_credentials"


async def test_refresh_rotates_and_a_concurrent_retry_gets_the_same_pair(
    http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)

    first, retry = await asyncio.gather(
        refresh(http, pair.refresh_token), refresh(http, pair.refresh_token)
    )

    assert first.refresh_token != pair.refresh_token
    assert retry.refresh_token == first.refresh_token
    assert retry.access_token == first.access_token
    assert (await me(http, first.access_token)).status_code == 200


async def test_reusing_a_refresh_token_revokes_the_session_at_the_gateway(
    http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    rotated: TokenPair = await refresh(http, pair.refresh_token)
    await asyncio.sleep(PAST_GRACE_SECONDS)

    reused = await http.post("/auth/token/refresh", json={"refresh_token": pair.refresh_token})
    after = await within(REVOCATION_SECONDS, lambda: me(http, rotated.access_token), 401)
    rotated_refresh = await http.post(
        "/auth/token/refresh", json={"refresh_token": rotated.refresh_token}
    )

    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    assert after.status_code == 401
    assert rotated_refresh.status_code == 401


async def test_refresh_from_another_user_agent_is_refused(
    http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    response = await http.post(
        "/auth/token/refresh",
        json={"refresh_token": pair.refresh_token},
        headers={"User-Agent": "somebody-else/9"},
    )

    assert response.status_code == 401


async def test_logout_kills_the_access_token_at_the_gateway(
    http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    logout = await http.post("/auth/logout", headers=bearer(pair.access_token))

    after = await within(REVOCATION_SECONDS, lambda: me(http, pair.access_token), 401)

    assert logout.status_code == 204
    assert after.status_code == 401
    assert after.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_deleting_one_session_leaves_the_other_working(
    http: httpx.AsyncClient, account: Account
) -> None:
    doomed = await login(http, account.username, account.password)
    kept = await login(http, account.username, account.password)
    doomed_sid = jwt.decode(doomed.access_token, options={"verify_signature": False})["sid"]
    listed = await http.get("/auth/sessions", headers=bearer(kept.access_token))
    deleted = await http.delete(f"/auth/sessions/{doomed_sid}", headers=bearer(kept.access_token))

    gone = await within(REVOCATION_SECONDS, lambda: me(http, doomed.access_token), 401)

    assert listed.json()["total"] == 2
    assert deleted.status_code == 204
    assert gone.status_code == 401
    assert (await me(http, kept.access_token)).status_code == 200


async def test_a_disabled_user_is_locked_out_at_once(
    http: httpx.AsyncClient, admin: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)

    disabled = await admin.patch(f"/auth/users/{account.id}", json={"is_active": False})
    after = await within(REVOCATION_SECONDS, lambda: me(http, pair.access_token), 401)
    relogin = await http.post(
        "/auth/login",
        json=await encrypted_login_body(http, account.username, account.password),
    )

    assert disabled.status_code == 200
    assert after.status_code == 401
    assert relogin.status_code == 401


async def test_the_sixth_failed_login_for_a_username_is_throttled(
    http: httpx.AsyncClient, account: Account
) -> None:
    async def attempt(password: str) -> httpx.Response:
        body = await encrypted_login_body(http, account.username, password)
        return await http.post("/auth/login", json=body)

    failures = [(await attempt("not-the-password")).status_code for _ in range(5)]
    throttled = await attempt(account.password)

    assert failures == [401] * 5
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["code"] == "login_throttled"


async def test_swagger_ui_password_login_through_the_gateway_authorizes_every_service(
    http: httpx.AsyncClient, mesh: object, account: Account
) -> None:
    if not (isinstance(mesh, Mesh) and mesh.environment.env["ENVIRONMENT"] == "local"):
        pytest.skip("POST /auth/login/swagger exists only with ENVIRONMENT=local")
    spec = (await http.get("/storage/openapi.json")).json()
    flow = spec["components"]["securitySchemes"]["OAuth2Password"]["flows"]["password"]
    form = {"grant_type": "password", "username": account.username, "password": account.password}

    # Swagger UI's default also sends the (empty) client credentials as Basic auth.
    token = await http.post(
        flow["tokenUrl"], data={**form, "scope": ""}, headers={"Authorization": "Basic Og=="}
    )
    access_token = token.json()["access_token"]
    own_user = await me(http, access_token)
    own_permissions = await http.get("/rbac/me/permissions", headers=bearer(access_token))

    assert token.status_code == 200
    assert token.json()["token_type"].lower() == "bearer"
    assert own_user.status_code == 200
    assert own_user.json()["username"] == account.username
    assert own_permissions.status_code == 200


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forgeries(genuine: str, refresh_token: str) -> dict[str, str]:
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    h, p, s = genuine.split(".")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return {
        "garbage": "not-a-jwt",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{p}.",
        "payload tampered to admin": f"{h}.{_b64({**claims, 'adm': True})}.{s}",
        "signed by a stranger with auth's kid": jwt.encode(
            claims, stranger, algorithm="RS256", headers={"kid": header["kid"], "typ": "at+jwt"}
        ),
        "unknown kid": jwt.encode(
            claims, stranger, algorithm="RS256", headers={"kid": "nope", "typ": "at+jwt"}
        ),
        "expired (stranger-signed)": jwt.encode(
            {**claims, "iat": now - 3600, "exp": now - 1800},
            stranger,
            algorithm="RS256",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "HS256 keyed with a guess": jwt.encode(
            claims,
            "a-guessed-shared-secret-of-32-bytes!",
            algorithm="HS256",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "refresh token as bearer": refresh_token,
        "signature stripped": f"{h}.{p}.",
    }


async def test_the_gateway_refuses_every_forged_or_wrong_token(
    http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    assert (await me(http, pair.access_token)).status_code == 200

    statuses = {
        name: (await me(http, token)).status_code
        for name, token in _forgeries(pair.access_token, pair.refresh_token).items()
    }

    assert statuses == dict.fromkeys(statuses, 401)
