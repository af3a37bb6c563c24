import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis

from auth.login.throttle import known_ips_key, user_key
from auth.settings import AuthSettings
from testkit.auth_app import RunningAuth
from testkit.auth_client import encrypt_password

ADMIN_PASSWORD = "correct horse battery staple"


async def _key(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/auth/keys/public")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def _post_login(
    http: httpx.AsyncClient, username: str, password_field: Any
) -> httpx.Response:
    return await http.post("/auth/login", json={"username": username, "password": password_field})


async def _login_from(
    auth: RunningAuth, forwarded_for: str, username: str, password: str
) -> httpx.Response:
    """The whole client login, sent by the gateway on behalf of `forwarded_for`."""
    key = await _key(auth.http)
    async with auth.client(**{"X-Forwarded-For": forwarded_for}) as http:
        return await _post_login(
            http,
            username,
            encrypt_password(key["public_key"], password, key["nonce"], username=username),
        )


async def test_login_returns_a_token_pair_whose_access_token_verifies_against_the_jwks(
    auth: RunningAuth,
) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)

    assert pair.token_type == "Bearer"
    assert pair.expires_in == auth.settings.access_token_ttl_seconds
    assert pair.refresh_expires_in > 0
    jwks = (await auth.http.get("/auth/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(pair.access_token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        pair.access_token,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=auth.settings.jwt_audience,
        issuer=auth.settings.jwt_issuer,
    )
    assert set(claims) == {"iss", "aud", "sub", "sid", "jti", "iat", "exp", "name", "adm"}
    assert claims["name"] == "admin"
    assert claims["adm"] is True
    assert claims["exp"] - claims["iat"] == auth.settings.access_token_ttl_seconds


async def test_public_key_offers_rsa_oaep_256_and_a_fresh_nonce_each_time(
    auth: RunningAuth,
) -> None:
    first, second = await _key(auth.http), await _key(auth.http)

    assert first["algorithm"] == "RSA-OAEP-256"
    assert first["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert first["nonce_expires_in"] == 120
    assert first["kid"] == second["kid"]
    assert first["nonce"] != second["nonce"]


async def _public_key_from(auth: RunningAuth, ip: str) -> httpx.Response:
    async with auth.client(**{"X-Forwarded-For": ip}) as http:
        return await http.get("/auth/keys/public")


async def _stored_nonces(redis: Redis) -> int:
    return len([key async for key in redis.scan_iter("auth:nonce:*")])


async def test_public_key_calls_within_the_per_ip_limit_each_get_a_stored_nonce(
    settings_factory: Any, running_factory: Any, redis: Redis
) -> None:
    auth: RunningAuth = await running_factory(settings_factory(public_key_requests_per_minute=3))

    responses = [await _public_key_from(auth, "198.51.100.10") for _ in range(3)]

    assert [r.status_code for r in responses] == [200] * 3
    assert await _stored_nonces(redis) == 3


async def test_a_public_key_call_over_the_limit_is_429_with_retry_after_and_stores_no_nonce(
    settings_factory: Any, running_factory: Any, redis: Redis
) -> None:
    auth: RunningAuth = await running_factory(settings_factory(public_key_requests_per_minute=3))
    for _ in range(3):
        await _public_key_from(auth, "198.51.100.11")

    refused = await _public_key_from(auth, "198.51.100.11")

    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "public_key_rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert await _stored_nonces(redis) == 3


async def test_public_key_calls_are_counted_per_forwarded_client_ip(
    settings_factory: Any, running_factory: Any
) -> None:
    auth: RunningAuth = await running_factory(settings_factory(public_key_requests_per_minute=2))
    for _ in range(2):
        await _public_key_from(auth, "198.51.100.12")

    other = [await _public_key_from(auth, "198.51.100.13") for _ in range(2)]
    same = await _public_key_from(auth, "198.51.100.12")

    assert [r.status_code for r in other] == [200, 200]
    assert same.status_code == 429


async def test_the_public_key_route_documents_its_rate_limit(auth: RunningAuth) -> None:
    operation = (await auth.http.get("/auth/openapi.json")).json()["paths"]["/keys/public"]["get"]

    assert "public_key_rate_limited" in operation["responses"]["429"]["description"]


async def test_username_is_case_insensitive_at_login(auth: RunningAuth) -> None:
    pair = await auth.login("ADMIN", ADMIN_PASSWORD)

    assert jwt.decode(pair.access_token, options={"verify_signature": False})["name"] == "admin"


async def test_me_returns_the_signed_in_user(auth: RunningAuth) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)
    async with auth.client(pair.access_token) as http:
        response = await http.get("/auth/me")

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "admin"
    assert body["is_admin"] is True
    assert body["is_active"] is True
    assert set(body) == {"id", "username", "name", "email", "is_admin", "is_active"}


def _assert_invalid_credentials(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_credentials"


async def test_a_replayed_nonce_is_refused_with_the_same_401(auth: RunningAuth) -> None:
    key = await _key(auth.http)
    sealed = encrypt_password(key["public_key"], ADMIN_PASSWORD, key["nonce"], username="admin")

    first = await _post_login(auth.http, "admin", sealed)
    replay = await _post_login(auth.http, "admin", sealed)

    assert first.status_code == 200
    _assert_invalid_credentials(replay)


async def test_an_envelope_sealed_for_one_account_cannot_log_in_to_another_sharing_its_password(
    auth: RunningAuth,
) -> None:
    shared = "a password two people chose"
    alice = (await auth.create_user(password=shared))["username"]
    mallory = (await auth.create_user(password=shared))["username"]
    key = await _key(auth.http)
    captured = encrypt_password(key["public_key"], shared, key["nonce"], username=alice)

    borrowed = await _post_login(auth.http, mallory, captured)
    replayed = await _post_login(auth.http, alice, captured)

    _assert_invalid_credentials(borrowed)
    # Its nonce was spent by the refused attempt: the envelope is good for nothing now.
    _assert_invalid_credentials(replayed)
    assert (await auth.login(alice, shared)).access_token


async def test_every_kind_of_bad_login_gets_the_same_401(
    settings_factory: Any, running_factory: Any, random_ip: Callable[[], str]
) -> None:
    # More failures than the throttle allows by default, all for one username.
    auth: RunningAuth = await running_factory(settings_factory(throttle_user_free_failures=50))

    async def sealed(password: str, nonce: str | None = None, username: str = "admin") -> str:
        key = await _key(auth.http)
        return encrypt_password(
            key["public_key"], password, nonce or key["nonce"], username=username
        )

    key = await _key(auth.http)
    public_key = key["public_key"]
    surrogate_nonce = (await _key(auth.http))["nonce"]
    unnamed_nonce = (await _key(auth.http))["nonce"]
    cases = {
        "wrong password": ("admin", await sealed("not the password")),
        "unknown user": ("nobody-here", await sealed(ADMIN_PASSWORD)),
        "unknown nonce": ("admin", await sealed(ADMIN_PASSWORD, nonce="A" * 22)),
        "sealed for another username": ("admin", await sealed(ADMIN_PASSWORD, username="Admin")),
        "envelope without a username": (
            "admin",
            base64.b64encode(
                _raw_encrypt(
                    public_key,
                    json.dumps({"password": ADMIN_PASSWORD, "nonce": unnamed_nonce}).encode(),
                )
            ).decode(),
        ),
        "not base64": ("admin", "%%% not base64 %%%"),
        "wrong length": ("admin", base64.b64encode(b"x" * 17).decode()),
        "huge ciphertext": ("admin", base64.b64encode(b"x" * 40_000).decode()),
        "random block": ("admin", base64.b64encode(b"\x01" * 256).decode()),
        "envelope not json": (
            "admin",
            base64.b64encode(
                _raw_encrypt(public_key, b"password=correct horse battery staple")
            ).decode(),
        ),
        "envelope of wrong types": (
            "admin",
            base64.b64encode(
                _raw_encrypt(public_key, json.dumps({"password": 5, "nonce": []}).encode())
            ).decode(),
        ),
        # Valid JSON (an escaped lone surrogate) that no hash function can take.
        "password not valid unicode": (
            "admin",
            base64.b64encode(
                _raw_encrypt(
                    public_key,
                    json.dumps(
                        {
                            "password": "half \ud800 pair",
                            "nonce": surrogate_nonce,
                            "username": "admin",
                        }
                    ).encode(),
                )
            ).decode(),
        ),
    }
    for name, (username, password_field) in cases.items():
        async with auth.client(**{"X-Forwarded-For": random_ip()}) as http:
            response = await _post_login(http, username, password_field)
        assert response.status_code == 401, name
        _assert_invalid_credentials(response)


def _raw_encrypt(public_key_pem: str, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_public_key(public_key_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    oaep = padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )
    return key.encrypt(plaintext, oaep)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "username"),
        ({"username": "admin"}, "password"),
        ({"username": "u" * 151, "password": "x"}, "username"),
        ({"username": "admin", "password": "x" * 70_000}, "password"),
        ({"username": "admin", "password": 12345}, "password"),
    ],
)
async def test_malformed_login_bodies_are_a_422_naming_the_field(
    auth: RunningAuth, body: dict[str, Any], field: str
) -> None:
    response = await auth.http.post("/auth/login", json=body)

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert ["body", field] in [e["loc"] for e in problem["errors"]]
    assert "x" * 100 not in response.text


async def test_a_disabled_user_cannot_log_in(auth: RunningAuth) -> None:
    user = await auth.create_user(password="disabled user password")
    username, user_id = user["username"], user["id"]
    async with await auth.admin() as admin:
        assert (await admin.patch(f"/auth/users/{user_id}", json={"is_active": False})).is_success

    key = await _key(auth.http)
    response = await _post_login(
        auth.http,
        username,
        encrypt_password(
            key["public_key"], "disabled user password", key["nonce"], username=username
        ),
    )

    _assert_invalid_credentials(response)


async def test_the_sixth_consecutive_failure_for_a_username_is_throttled_with_retry_after(
    auth: RunningAuth[AuthSettings], random_ip: Callable[[], str]
) -> None:
    username = (await auth.create_user(password="throttled user password"))["username"]

    async def attempt(password: str) -> httpx.Response:
        return await _login_from(auth, random_ip(), username, password)

    statuses = [(await attempt("wrong password")).status_code for _ in range(5)]
    throttled = await attempt("throttled user password")

    assert statuses == [401] * 5
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "login_throttled"
    assert 1 <= int(throttled.headers["Retry-After"]) <= auth.settings.throttle_base_delay_seconds


async def test_a_throttled_attempt_spends_its_nonce_and_a_refused_envelope_keeps_it(
    auth: RunningAuth, redis: Redis, random_ip: Callable[[], str]
) -> None:
    """The nonce is spent in the round trip that reads the throttle's counters: a throttled
    attempt cannot be replayed once the block lifts. An envelope that does not decrypt never
    reaches Redis with its nonce, which stays usable (as before)."""
    username = (await auth.create_user(password="throttled user password"))["username"]
    for _ in range(5):
        await _login_from(auth, random_ip(), username, "wrong password")
    key = await _key(auth.http)
    sealed = encrypt_password(
        key["public_key"], "throttled user password", key["nonce"], username=username
    )

    throttled = await _post_login(auth.http, username, sealed)

    assert throttled.status_code == 429
    assert await redis.exists(f"auth:nonce:{key['nonce']}") == 0

    other = await _key(auth.http)
    empty = {"password": "", "nonce": other["nonce"], "username": "admin"}
    refused = _raw_encrypt(other["public_key"], json.dumps(empty).encode())
    answer = await _post_login(auth.http, "admin", base64.b64encode(refused).decode())
    assert answer.status_code == 401
    assert await redis.exists(f"auth:nonce:{other['nonce']}") == 1


async def test_failures_from_one_forwarded_client_ip_are_throttled_across_usernames(
    settings_factory: Any, running_factory: Any, random_ip: Callable[[], str]
) -> None:
    auth: RunningAuth = await running_factory(settings_factory(throttle_ip_free_failures=3))
    client_ip = random_ip()
    statuses = []
    for n in range(4):
        forwarded_for = f"198.51.100.7, {client_ip}"
        response = await _login_from(auth, forwarded_for, f"someone-{n}", "wrong")
        statuses.append(response.status_code)

    assert statuses == [401, 401, 401, 429]


async def test_a_successful_login_forgets_the_usernames_failures_and_remembers_the_client_ip(
    auth: RunningAuth, redis: Redis, random_ip: Callable[[], str]
) -> None:
    username = (await auth.create_user(password="forgiven user password"))["username"]
    client_ip = random_ip()

    async def attempt(password: str) -> httpx.Response:
        return await _login_from(auth, client_ip, username, password)

    failures = [(await attempt("wrong password")).status_code for _ in range(4)]
    success = await attempt("forgiven user password")

    assert failures == [401] * 4
    assert success.status_code == 200
    assert await redis.exists(user_key(username)) == 0
    assert await redis.sismember(known_ips_key(username), client_ip)


async def test_a_username_with_a_nul_character_is_a_422_on_the_field_on_every_database(
    auth: RunningAuth,
) -> None:
    key = await _key(auth.http)
    sealed = encrypt_password(key["public_key"], ADMIN_PASSWORD, key["nonce"], username="admin")

    response = await _post_login(auth.http, "ad\x00min", sealed)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "username"]
