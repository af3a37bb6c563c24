"""auth through the gateway, like a client: RSA login, refresh rotation, revocation, throttling,
and access tokens the gateway must refuse."""

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from testkit.auth_client import TokenPair, encrypt_password, login, refresh

pytestmark = pytest.mark.e2e

# ARCHITECTURE.md: revocation takes effect at the gateway at once; allow a second of propagation.
REVOCATION_SECONDS = 1.0
# REFRESH_REUSE_GRACE_SECONDS default (2 s), plus a margin.
PAST_GRACE_SECONDS = 2.5
PROTECTED = "/auth/me"


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


@dataclass
class Account:
    id: str
    username: str
    password: str


@pytest.fixture
async def http(mesh: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=mesh.url, timeout=15, headers={"User-Agent": "e2e-auth/1.0"}
    ) as client:
        yield client


@pytest.fixture
async def admin(mesh: Any, http: httpx.AsyncClient) -> httpx.AsyncClient:
    pair = await login(http, mesh.admin_username, mesh.admin_password)
    http.headers["Authorization"] = f"Bearer {pair.access_token}"
    return http


@pytest.fixture
async def account(admin: httpx.AsyncClient) -> Account:
    username = f"e2e-auth-{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(18)
    response = await admin.post(
        "/auth/users", json={"username": username, "password": password, "name": "E2E"}
    )
    assert response.status_code == 201, response.text
    return Account(response.json()["id"], username, password)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": "e2e-auth/1.0"}


async def me(mesh: Any, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as client:
        return await client.get(PROTECTED, headers=bearer(token))


async def test_login_with_client_side_rsa_oaep_gives_a_working_access_token(
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    response = await me(mesh, pair.access_token)

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
    key = (await http.get("/auth/keys/public")).json()
    body = {
        "username": account.username,
        "password": encrypt_password(key["public_key"], account.password, key["nonce"]),
    }

    first = await http.post("/auth/login", json=body)
    replay = await http.post("/auth/login", json=body)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_credentials"


async def test_refresh_rotates_and_a_concurrent_retry_gets_the_same_pair(
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)

    first, retry = await asyncio.gather(
        refresh(http, pair.refresh_token), refresh(http, pair.refresh_token)
    )

    assert first.refresh_token != pair.refresh_token
    assert retry.refresh_token == first.refresh_token
    assert retry.access_token == first.access_token
    assert (await me(mesh, first.access_token)).status_code == 200


async def test_reusing_a_refresh_token_revokes_the_session_at_the_gateway(
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    rotated: TokenPair = await refresh(http, pair.refresh_token)
    await asyncio.sleep(PAST_GRACE_SECONDS)

    reused = await http.post("/auth/token/refresh", json={"refresh_token": pair.refresh_token})
    after = await within(REVOCATION_SECONDS, lambda: me(mesh, rotated.access_token), 401)
    rotated_refresh = await http.post(
        "/auth/token/refresh", json={"refresh_token": rotated.refresh_token}
    )

    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    assert after.status_code == 401
    assert rotated_refresh.status_code == 401


async def test_refresh_from_another_user_agent_is_refused(
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as other:
        response = await other.post(
            "/auth/token/refresh",
            json={"refresh_token": pair.refresh_token},
            headers={"User-Agent": "somebody-else/9"},
        )

    assert response.status_code == 401


async def test_logout_kills_the_access_token_at_the_gateway(
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as client:
        logout = await client.post("/auth/logout", headers=bearer(pair.access_token))

    after = await within(REVOCATION_SECONDS, lambda: me(mesh, pair.access_token), 401)

    assert logout.status_code == 204
    assert after.status_code == 401
    assert after.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_deleting_one_session_leaves_the_other_working(
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    doomed = await login(http, account.username, account.password)
    kept = await login(http, account.username, account.password)
    doomed_sid = jwt.decode(doomed.access_token, options={"verify_signature": False})["sid"]
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as client:
        listed = await client.get("/auth/sessions", headers=bearer(kept.access_token))
        deleted = await client.delete(
            f"/auth/sessions/{doomed_sid}", headers=bearer(kept.access_token)
        )

    gone = await within(REVOCATION_SECONDS, lambda: me(mesh, doomed.access_token), 401)

    assert listed.json()["total"] == 2
    assert deleted.status_code == 204
    assert gone.status_code == 401
    assert (await me(mesh, kept.access_token)).status_code == 200


async def test_a_disabled_user_is_locked_out_at_once(
    mesh: Any, admin: httpx.AsyncClient, account: Account
) -> None:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=15) as client:
        pair = await login(client, account.username, account.password)

        disabled = await admin.patch(f"/auth/users/{account.id}", json={"is_active": False})
        after = await within(REVOCATION_SECONDS, lambda: me(mesh, pair.access_token), 401)
        key = (await client.get("/auth/keys/public")).json()
        relogin = await client.post(
            "/auth/login",
            json={
                "username": account.username,
                "password": encrypt_password(key["public_key"], account.password, key["nonce"]),
            },
        )

    assert disabled.status_code == 200
    assert after.status_code == 401
    assert relogin.status_code == 401


async def test_the_sixth_failed_login_for_a_username_is_throttled(
    http: httpx.AsyncClient, account: Account
) -> None:
    async def attempt(password: str) -> httpx.Response:
        key = (await http.get("/auth/keys/public")).json()
        sealed = encrypt_password(key["public_key"], password, key["nonce"])
        return await http.post(
            "/auth/login", json={"username": account.username, "password": sealed}
        )

    failures = [(await attempt("not-the-password")).status_code for _ in range(5)]
    throttled = await attempt(account.password)

    assert failures == [401] * 5
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["code"] == "login_throttled"


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
    mesh: Any, http: httpx.AsyncClient, account: Account
) -> None:
    pair = await login(http, account.username, account.password)
    assert (await me(mesh, pair.access_token)).status_code == 200

    statuses = {
        name: (await me(mesh, token)).status_code
        for name, token in _forgeries(pair.access_token, pair.refresh_token).items()
    }

    assert statuses == dict.fromkeys(statuses, 401)
