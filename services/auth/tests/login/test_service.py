from typing import Any

import pytest
from sqlalchemy import select

from auth.settings import AuthSettings
from auth.users.models import User
from common.sql import SqlDatabase
from testkit.auth_app import RunningAuth
from testkit.auth_client import LoginFailedError

ADMIN_PASSWORD = "correct horse battery staple"


async def _stored_hash(settings: AuthSettings, username: str) -> str:
    database = SqlDatabase(settings.database_url, pool_size=1)
    try:
        async with database.session() as session:
            user = (
                await session.execute(select(User).where(User.username_key == username))  # type: ignore[arg-type]
            ).scalar_one()
            return user.password_hash
    finally:
        await database.dispose()


async def test_login_upgrades_a_hash_made_with_older_parameters(
    settings_factory: Any, running_factory: Any, production_argon2: dict[str, Any]
) -> None:
    """A hash of the previous default (19 MiB, 2 passes) becomes one of today's (7 MiB, 5) at
    its next login; the next login then verifies the new hash and leaves it alone."""
    before: RunningAuth[AuthSettings] = await running_factory(
        settings_factory(argon2_memory_kib=19 * 1024, argon2_time_cost=2)
    )
    user = await before.create_user(password="upgrade me please")
    old = await _stored_hash(before.settings, user["username"])
    assert "$m=19456,t=2,p=1$" in old

    now: RunningAuth[AuthSettings] = await running_factory(settings_factory(**production_argon2))
    await now.login(user["username"], "upgrade me please")

    upgraded = await _stored_hash(now.settings, user["username"])
    assert upgraded.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    await now.login(user["username"], "upgrade me please")
    assert await _stored_hash(now.settings, user["username"]) == upgraded


async def test_a_failed_login_leaves_an_old_hash_alone(
    settings_factory: Any, running_factory: Any, production_argon2: dict[str, Any]
) -> None:
    before: RunningAuth[AuthSettings] = await running_factory(
        settings_factory(argon2_memory_kib=19 * 1024, argon2_time_cost=2)
    )
    user = await before.create_user(password="upgrade me please")
    old = await _stored_hash(before.settings, user["username"])

    now: RunningAuth[AuthSettings] = await running_factory(settings_factory(**production_argon2))
    with pytest.raises(LoginFailedError):
        await now.login(user["username"], "not the password")

    assert await _stored_hash(now.settings, user["username"]) == old


async def test_swagger_password_form_login_exists_only_in_local(
    settings_factory: Any, running_factory: Any
) -> None:
    local: RunningAuth[AuthSettings] = await running_factory(settings_factory(environment="local"))
    test: RunningAuth[AuthSettings] = await running_factory(settings_factory())
    form = {"username": "admin", "password": ADMIN_PASSWORD, "grant_type": "password"}

    ok = await local.http.post("/auth/login/swagger", data=form)
    wrong = await local.http.post("/auth/login/swagger", data={**form, "password": "nope"})
    absent = await test.http.post("/auth/login/swagger", data=form)

    assert ok.status_code == 200
    assert ok.json()["token_type"] == "Bearer"
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_credentials"
    assert absent.status_code == 404


async def test_every_route_declares_its_access_level(auth: RunningAuth) -> None:
    paths = (await auth.http.get("/auth/openapi.json")).json()["paths"]
    levels = {
        f"{method.upper()} {path}": operation["x-access"]
        for path, item in paths.items()
        for method, operation in item.items()
    }

    assert levels["GET /keys/public"] == "public"
    assert levels["POST /login"] == "public"
    assert levels["POST /token/refresh"] == "public"
    assert levels["GET /.well-known/jwks.json"] == "public"
    assert levels["GET /me"] == "authenticated"
    assert levels["POST /logout"] == "authenticated"
    assert levels["GET /sessions"] == "authenticated"
    assert levels["DELETE /sessions/{session_id}"] == "authenticated"
    assert levels["POST /users"] == "admin"
    assert levels["PATCH /users/{user_id}"] == "admin"


async def test_ready_checks_sql_and_redis(auth: RunningAuth) -> None:
    response = await auth.http.get("/auth/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"sql": "ok", "redis": "ok"}


async def test_the_swagger_form_login_with_a_nul_in_the_username_is_the_usual_401(
    settings_factory: Any, running_factory: Any
) -> None:
    local: RunningAuth[AuthSettings] = await running_factory(settings_factory(environment="local"))
    form = {"username": "ad\x00min", "password": ADMIN_PASSWORD, "grant_type": "password"}

    response = await local.http.post("/auth/login/swagger", data=form)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
