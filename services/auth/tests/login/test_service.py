from typing import Any

from sqlalchemy import select

from auth.settings import AuthSettings
from auth.testing import RunningAuth
from auth.users.models import User
from common.sql import SqlDatabase

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
    weak: RunningAuth = await running_factory(
        settings_factory(argon2_memory_kib=8192, argon2_time_cost=1)
    )
    user = await weak.create_user(password="upgrade me please")
    assert "$m=8192,t=1," in await _stored_hash(weak.settings, user["username"])

    strong: RunningAuth = await running_factory(settings_factory(**production_argon2))
    await strong.login(user["username"], "upgrade me please")

    assert "$m=19456,t=2,p=1$" in await _stored_hash(strong.settings, user["username"])
    await strong.login(user["username"], "upgrade me please")


async def test_swagger_password_form_login_exists_only_in_local(
    settings_factory: Any, running_factory: Any
) -> None:
    local: RunningAuth = await running_factory(settings_factory(environment="local"))
    test: RunningAuth = await running_factory(settings_factory())
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
    local: RunningAuth = await running_factory(settings_factory(environment="local"))
    form = {"username": "ad\x00min", "password": ADMIN_PASSWORD, "grant_type": "password"}

    response = await local.http.post("/auth/login/swagger", data=form)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
