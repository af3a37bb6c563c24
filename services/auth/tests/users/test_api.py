import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from common import user_events
from common.sql import SqlDatabase
from testkit.auth_app import RunningAuth
from testkit.auth_client import LoginFailedError

ADMIN_PASSWORD = "correct horse battery staple"


async def test_admin_creates_lists_reads_and_updates_users(auth: RunningAuth) -> None:
    async with await auth.admin() as admin:
        created = await admin.post(
            "/auth/users",
            json={
                "username": "Bob.Builder",
                "password": "can we fix it yes",
                "name": "Bob",
                "email": "Bob@Example.com",
            },
        )
        user = created.json()
        listed = await admin.get("/auth/users", params={"limit": 1, "offset": 0})
        read = await admin.get(f"/auth/users/{user['id']}")
        patched = await admin.patch(f"/auth/users/{user['id']}", json={"name": "Robert"})

    assert created.status_code == 201
    assert user["email"] == "bob@example.com"
    assert user["is_active"] is True
    assert user["is_admin"] is False
    assert "password" not in created.text
    assert "hash" not in created.text
    assert listed.json()["total"] == 2
    assert len(listed.json()["items"]) == 1
    assert read.json()["username"] == "Bob.Builder"
    assert patched.json()["name"] == "Robert"
    pair = await auth.login("bob.builder", "can we fix it yes")
    assert jwt.decode(pair.access_token, options={"verify_signature": False})["adm"] is False


async def test_usernames_and_emails_are_unique_regardless_of_case(auth: RunningAuth) -> None:
    await auth.create_user(username="carol", email="carol@example.com")
    async with await auth.admin() as admin:
        same_name = await admin.post(
            "/auth/users", json={"username": "CAROL", "password": "another fine password"}
        )
        same_email = await admin.post(
            "/auth/users",
            json={
                "username": "carol2",
                "password": "another fine password",
                "email": "CAROL@example.com",
            },
        )

    assert same_name.status_code == 409
    assert same_name.json()["code"] == "username_taken"
    assert same_email.status_code == 409
    assert same_email.json()["code"] == "email_taken"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("s3cr!t", "password_too_short"),
        ("x" * 129, "password_too_long"),
        ("password123", "password_too_common"),
        ("QWERTYUIOP", "password_too_common"),
    ],
)
async def test_weak_passwords_are_refused_with_a_named_422(
    auth: RunningAuth, password: str, code: str
) -> None:
    async with await auth.admin() as admin:
        response = await admin.post("/auth/users", json={"username": "dave", "password": password})

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == code
    assert problem["errors"][0]["loc"] == ["body", "password"]
    assert password not in response.text


async def test_a_password_with_a_lone_surrogate_is_a_named_422_not_a_500(
    auth: RunningAuth,
) -> None:
    # JSON may escape a lone surrogate; no hash function can take one.
    body = json.dumps({"username": "dave", "password": "surrogate \ud800 inside"})
    async with await auth.admin() as admin:
        response = await admin.post(
            "/auth/users", content=body, headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "password"]


async def test_a_long_passphrase_of_64_characters_works_end_to_end(auth: RunningAuth) -> None:
    passphrase = "éléphant rose qui danse sous la pluie d'été, très lentement ☂☂"
    assert len(passphrase) >= 60
    user = await auth.create_user(password=passphrase)

    pair = await auth.login(user["username"], passphrase)

    assert pair.access_token


async def test_non_admins_cannot_use_the_users_api(auth: RunningAuth) -> None:
    user = await auth.create_user(password="an ordinary password")
    pair = await auth.login(user["username"], "an ordinary password")
    async with auth.client(pair.access_token) as http:
        listing = await http.get("/auth/users")
        creating = await http.post("/auth/users", json={"username": "x", "password": "y" * 12})
        me = await http.get("/auth/me")

    assert listing.status_code == 403
    assert creating.status_code == 403
    assert listing.json()["code"] == "admin_required"
    assert me.json()["username"] == user["username"]


async def test_disabling_a_user_revokes_their_tokens_marks_and_announces_it(
    auth: RunningAuth, redis: Redis
) -> None:
    user = await auth.create_user(password="soon to be disabled")
    pair = await auth.login(user["username"], "soon to be disabled")
    pubsub = redis.pubsub()
    await pubsub.subscribe(user_events.CHANNEL)
    await pubsub.get_message(timeout=1)  # the subscription confirmation

    async with await auth.admin() as admin:
        disabled = await admin.patch(f"/auth/users/{user['id']}", json={"is_active": False})
    async with auth.client(pair.access_token) as http:
        me = await http.get("/auth/me")
    refreshed = await auth.http.post(
        "/auth/token/refresh", json={"refresh_token": pair.refresh_token}
    )
    message = await pubsub.get_message(timeout=5)
    marked = await user_events.is_disabled(redis, user["id"])

    async with await auth.admin() as admin:
        await admin.patch(f"/auth/users/{user['id']}", json={"is_active": True})
    enabled_message = await pubsub.get_message(timeout=5)
    await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert disabled.json()["is_active"] is False
    assert me.status_code == 401
    assert refreshed.status_code == 401
    assert marked
    assert message is not None
    event = user_events.parse_user_event(message["data"])
    assert event == user_events.UserEvent(user_id=user["id"], event="disabled")
    assert enabled_message is not None
    enabled = user_events.parse_user_event(enabled_message["data"])
    assert enabled == user_events.UserEvent(user_id=user["id"], event="enabled")
    assert not await user_events.is_disabled(redis, user["id"])
    assert await auth.login(user["username"], "soon to be disabled")


async def test_a_password_change_revokes_existing_sessions_and_the_new_password_works(
    auth: RunningAuth,
) -> None:
    user = await auth.create_user(password="the old password")
    old = await auth.login(user["username"], "the old password")

    async with await auth.admin() as admin:
        changed = await admin.patch(
            f"/auth/users/{user['id']}", json={"password": "the brand new password"}
        )
    async with auth.client(old.access_token) as http:
        me = await http.get("/auth/me")

    assert changed.status_code == 200
    assert me.status_code == 401
    with pytest.raises(LoginFailedError):
        await auth.login(user["username"], "the old password")
    new = await auth.login(user["username"], "the brand new password")
    async with auth.client(new.access_token) as http:
        assert (await http.get("/auth/me")).status_code == 200


async def test_deleting_a_user_revokes_their_tokens_and_frees_nothing_else(
    auth: RunningAuth,
) -> None:
    user = await auth.create_user(password="about to be deleted")
    pair = await auth.login(user["username"], "about to be deleted")

    async with await auth.admin() as admin:
        deleted = await admin.delete(f"/auth/users/{user['id']}")
        missing = await admin.get(f"/auth/users/{user['id']}")
        still_listed = (await admin.get("/auth/users")).json()["total"]
    async with auth.client(pair.access_token) as http:
        me = await http.get("/auth/me")

    assert deleted.status_code == 204
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"
    assert still_listed == 1
    assert me.status_code == 401


async def test_an_admin_cannot_disable_or_delete_themselves(auth: RunningAuth) -> None:
    pair = await auth.login("admin", ADMIN_PASSWORD)
    admin_id = jwt.decode(pair.access_token, options={"verify_signature": False})["sub"]
    async with auth.client(pair.access_token) as admin:
        disable = await admin.patch(f"/auth/users/{admin_id}", json={"is_active": False})
        delete = await admin.delete(f"/auth/users/{admin_id}")

    assert disable.status_code == 409
    assert delete.status_code == 409
    assert disable.json()["code"] == "self_lockout"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "has space", "password": "good enough password"},
        {"username": "eve", "password": "good enough password", "email": "not-an-email"},
        {"username": "eve", "password": "good enough password", "role": "admin"},
        {"username": "eve", "password": "p" * 5000},
    ],
)
async def test_malformed_user_bodies_are_a_422(auth: RunningAuth, body: dict[str, Any]) -> None:
    async with await auth.admin() as admin:
        response = await admin.post("/auth/users", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("post", {"username": "nul", "password": "good enough password", "name": "a\x00b"}, "name"),
        (
            "post",
            {"username": "nul", "password": "good enough password", "email": "a\x00b@example.com"},
            "email",
        ),
        ("patch", {"name": "a\x00b"}, "name"),
        ("patch", {"email": "a@exa\x00mple.com"}, "email"),
    ],
)
async def test_text_with_a_nul_character_is_a_422_on_its_field_on_every_database(
    auth: RunningAuth, method: str, body: dict[str, Any], field: str
) -> None:
    async with await auth.admin() as admin:
        target = "/auth/users"
        if method == "patch":
            target += "/" + (await auth.create_user(password="nul user password"))["id"]
        response = await admin.request(method.upper(), target, json=body)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize("field", ["password", "name", "is_active", "is_admin"])
async def test_a_patch_that_sets_a_required_field_to_null_is_refused_and_changes_nothing(
    auth: RunningAuth, field: str
) -> None:
    user = await auth.create_user(password="null patch password")
    async with await auth.admin() as admin:
        # With a change beside it (the name, or the email when the name is the null one).
        beside = {"email": "x@example.com"} if field == "name" else {"name": "x"}
        response = await admin.patch(f"/auth/users/{user['id']}", json={field: None, **beside})
        after = (await admin.get(f"/auth/users/{user['id']}")).json()

    assert response.status_code == 422
    assert response.json()["code"] == "null_not_allowed"
    assert response.json()["errors"][0]["loc"] == ["body", field]
    assert (after["name"], after["email"]) == (user["name"], user["email"])


async def test_a_patch_with_a_null_email_clears_it(auth: RunningAuth) -> None:
    async with await auth.admin() as admin:
        created = await admin.post(
            "/auth/users",
            json={"username": "mailer", "password": "mailer password ok", "email": "m@example.com"},
        )
        patched = await admin.patch(f"/auth/users/{created.json()['id']}", json={"email": None})

    assert patched.status_code == 200
    assert patched.json()["email"] is None


async def test_the_openapi_documents_the_password_rules_and_which_patch_fields_take_null(
    auth: RunningAuth,
) -> None:
    schemas = (await auth.http.get("/auth/openapi.json")).json()["components"]["schemas"]
    update = schemas["UserUpdate"]["properties"]

    assert (
        "AUTH_PASSWORD_MIN_LENGTH" in schemas["UserCreate"]["properties"]["password"]["description"]
    )
    assert {"type": "null"} in update["email"]["anyOf"]
    for field in ("password", "name", "is_active", "is_admin"):
        assert "anyOf" not in update[field], field


async def test_timestamps_read_back_as_the_same_instants_with_their_offset(
    auth: RunningAuth,
) -> None:
    before = datetime.now(UTC)
    user = await auth.create_user(password="timestamp password")
    async with await auth.admin() as admin:
        read = (await admin.get(f"/auth/users/{user['id']}")).json()
        patched = (await admin.patch(f"/auth/users/{user['id']}", json={"name": "T"})).json()
        listed = (await admin.get("/auth/users", params={"limit": 100})).json()["items"]

    listed_user = next(u for u in listed if u["id"] == user["id"])
    for stamp in (read["created_at"], read["updated_at"], listed_user["updated_at"]):
        instant = datetime.fromisoformat(stamp)
        assert instant.utcoffset() is not None, stamp
        assert abs(instant - before) < timedelta(minutes=1)
    assert patched["name"] == "T"


async def test_a_created_user_is_committed_before_the_response_starts(
    auth: RunningAuth, database_url: str
) -> None:
    # A client holding the 201 may use the user at once through another connection (the
    # gateway's next request); seen from a second connection when the answer starts to leave.
    elsewhere = SqlDatabase(database_url)
    committed_when_answered: list[bool] = []
    username = f"user-{uuid.uuid4().hex[:10]}"

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                async with elsewhere.session() as session:
                    found = await session.execute(
                        text("SELECT count(*) FROM users WHERE username = :name"),
                        {"name": username},
                    )
                committed_when_answered.append(found.scalar_one() == 1)
            await send(message)

        await auth.app(scope, receive, watching_send)

    pair = await auth.login(auth.admin_username, auth.admin_password)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(watched), base_url="http://auth"
        ) as admin:
            created = await admin.post(
                "/auth/users",
                json={"username": username, "password": "a long enough password"},
                headers={"Authorization": f"Bearer {pair.access_token}"},
            )
    finally:
        await elsewhere.dispose()

    assert created.status_code == 201
    assert committed_when_answered == [True]
