from typing import Any

import jwt

from testkit.auth_app import RunningAuth
from testkit.auth_client import refresh

ADMIN_PASSWORD = "correct horse battery staple"


async def test_refresh_through_the_api_rotates_the_pair(auth: RunningAuth) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)

    rotated = await refresh(auth.http, pair.refresh_token)

    assert rotated.refresh_token != pair.refresh_token
    async with auth.client(rotated.access_token) as http:
        assert (await http.get("/auth/me")).status_code == 200


async def test_reusing_a_refresh_token_kills_the_sessions_access_token(
    settings_factory: Any, running_factory: Any
) -> None:
    auth: RunningAuth = await running_factory(settings_factory(refresh_reuse_grace_seconds=0))
    pair = await auth.login("admin", ADMIN_PASSWORD)
    rotated = await refresh(auth.http, pair.refresh_token)

    reused = await auth.http.post("/auth/token/refresh", json={"refresh_token": pair.refresh_token})

    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    async with auth.client(rotated.access_token) as http:
        me = await http.get("/auth/me")
    assert me.status_code == 401
    assert me.json()["code"] == "token_revoked"


async def test_refresh_with_another_user_agent_is_a_401(auth: RunningAuth) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)
    async with auth.client(**{"User-Agent": "somebody-else/2"}) as http:
        response = await http.post(
            "/auth/token/refresh", json={"refresh_token": pair.refresh_token}
        )

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


async def test_logout_revokes_the_access_token_and_the_refresh_token(auth: RunningAuth) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)
    async with auth.client(pair.access_token) as http:
        logout = await http.post("/auth/logout")
        after = await http.get("/auth/me")
    refreshed = await auth.http.post(
        "/auth/token/refresh", json={"refresh_token": pair.refresh_token}
    )

    assert logout.status_code == 204
    assert after.status_code == 401
    assert after.json()["code"] == "token_revoked"
    assert refreshed.status_code == 401


async def test_sessions_lists_the_callers_sessions_and_marks_the_current_one(
    auth: RunningAuth,
) -> None:
    first = await auth.login("admin", ADMIN_PASSWORD)
    second = await auth.login("admin", ADMIN_PASSWORD)
    async with auth.client(second.access_token) as http:
        response = await http.get("/auth/sessions")

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    current = [s for s in body["items"] if s["current"]]
    assert [s["id"] for s in current] == [
        jwt.decode(second.access_token, options={"verify_signature": False})["sid"]
    ]
    assert all(s["user_agent"] == "auth-tests/1.0" for s in body["items"])
    assert first.access_token != second.access_token


async def test_deleting_a_session_revokes_its_tokens_only(auth: RunningAuth) -> None:
    doomed = await auth.login("admin", ADMIN_PASSWORD)
    kept = await auth.login("admin", ADMIN_PASSWORD)
    doomed_sid = jwt.decode(doomed.access_token, options={"verify_signature": False})["sid"]

    async with auth.client(kept.access_token) as http:
        deleted = await http.delete(f"/auth/sessions/{doomed_sid}")
        again = await http.delete(f"/auth/sessions/{doomed_sid}")
        kept_me = await http.get("/auth/me")
    async with auth.client(doomed.access_token) as http:
        doomed_me = await http.get("/auth/me")

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json()["code"] == "session_not_found"
    assert kept_me.status_code == 200
    assert doomed_me.status_code == 401


async def test_authenticated_routes_refuse_missing_and_forged_tokens(auth: RunningAuth) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)
    header, payload, _signature = pair.access_token.split(".")
    forged = f"{header}.{payload}.{'A' * 40}"
    async with auth.client() as anonymous, auth.client(forged) as forger:
        missing = await anonymous.get("/auth/sessions")
        bad = await forger.get("/auth/sessions")

    assert missing.status_code == 401
    assert missing.json()["code"] == "missing_token"
    assert bad.status_code == 401
    assert bad.json()["code"] == "invalid_token"
