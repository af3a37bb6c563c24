"""CurrentUserDep / AdminUserDep in a service: verified token, revocation checked, fail closed."""

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from common.access import Access, access
from common.app import create_app
from common.ids import uuid7
from common.redis_client import create_redis
from common.revocation import revoke_session, revoke_user_tokens
from common.security import AdminUserDep, CurrentUserDep, install_token_verification
from common.settings import Environment, ServiceSettings
from testkit.credential_shapes import HEADER_SHAPES, HeaderShape
from testkit.tokens import TokenSigner


@asynccontextmanager
async def build_client(signer: TokenSigner, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.get("/me", openapi_extra=access(Access.AUTHENTICATED))
    async def me(user: CurrentUserDep) -> dict[str, str]:
        return {"sub": user.sub}

    @router.get("/admin-only")
    async def admin_only(user: AdminUserDep) -> dict[str, str]:
        return {"sub": user.sub}

    settings = ServiceSettings(jwt_issuer=signer.issuer, jwt_audience=signer.audience)
    app = create_app("demo", settings, routers=[router], configure_logs=False)
    redis = create_redis(redis_url)
    install_token_verification(app, settings, redis=redis, keys=signer.keys())
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo/demo") as http:
            yield http
    finally:
        await redis.aclose()


@pytest.fixture
async def client(signer: TokenSigner, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with build_client(signer, redis_url) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_token_identifies_the_caller(
    client: httpx.AsyncClient, signer: TokenSigner
) -> None:
    user_id = str(uuid7())
    response = await client.get("/me", headers=bearer(signer.token(sub=user_id)))
    assert response.status_code == 200
    assert response.json() == {"sub": user_id}


async def test_no_token_or_a_bad_one_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, signer: TokenSigner, other_signer: TokenSigner
) -> None:
    missing = await client.get("/me")
    assert (missing.status_code, missing.json()["code"]) == (401, "missing_token")
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = await client.get("/me", headers=bearer(other_signer.token()))
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")
    basic = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


@pytest.mark.parametrize("shape", HEADER_SHAPES, ids=str)
async def test_a_service_accepts_exactly_one_bearer_credential(
    client: httpx.AsyncClient, signer: TokenSigner, shape: HeaderShape
) -> None:
    caller, other = str(uuid7()), str(uuid7())
    headers = shape.headers(signer.token(sub=caller), signer.token(sub=other, adm=True))

    response = await client.get("/me", headers=headers)

    if shape.refused_with is None:
        assert response.status_code == 200, response.text
        assert response.json() == {"sub": caller}
    else:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == shape.refused_with


async def test_a_validly_signed_token_whose_subject_is_not_a_user_id_is_401(
    client: httpx.AsyncClient, signer: TokenSigner
) -> None:
    response = await client.get("/me", headers=bearer(signer.token(sub="admin")))
    assert (response.status_code, response.json()["code"]) == (401, "invalid_token")
    assert response.json()["detail"] == "access token rejected: subject is not a user id"


async def test_a_token_living_longer_than_the_configured_lifetime_is_401(
    client: httpx.AsyncClient, signer: TokenSigner
) -> None:
    now = int(time.time())
    ten_years = signer.token(iat=now, exp=now + 10 * 365 * 24 * 3600)
    response = await client.get("/me", headers=bearer(ten_years))
    assert (response.status_code, response.json()["code"]) == (401, "invalid_token")
    assert response.json()["detail"] == "access token rejected: token lifetime too long"


async def test_a_revoked_session_is_refused_at_once(
    client: httpx.AsyncClient, signer: TokenSigner, redis_url: str
) -> None:
    token = signer.token(sid="session-to-revoke")
    assert (await client.get("/me", headers=bearer(token))).status_code == 200
    redis = create_redis(redis_url)
    await revoke_session(redis, "session-to-revoke", ttl_seconds=60)
    await redis.aclose()
    refused = await client.get("/me", headers=bearer(token))
    assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")


async def test_revoking_a_user_kills_older_tokens_only(
    client: httpx.AsyncClient, signer: TokenSigner, redis_url: str
) -> None:
    now = int(time.time())
    user_id = str(uuid7())
    old = signer.token(sub=user_id, iat=now - 30)
    redis = create_redis(redis_url)
    await revoke_user_tokens(redis, user_id, issued_before=now - 1, ttl=60)
    await redis.aclose()
    fresh = signer.token(sub=user_id, iat=now)
    assert (await client.get("/me", headers=bearer(old))).status_code == 401
    assert (await client.get("/me", headers=bearer(fresh))).status_code == 200


async def test_admin_routes_refuse_other_users(
    client: httpx.AsyncClient, signer: TokenSigner
) -> None:
    denied = await client.get("/admin-only", headers=bearer(signer.token(adm=False)))
    assert (denied.status_code, denied.json()["code"]) == (403, "admin_required")
    allowed = await client.get("/admin-only", headers=bearer(signer.token(adm=True)))
    assert allowed.status_code == 200


async def test_an_unreachable_redis_denies_instead_of_skipping_the_revocation_check(
    signer: TokenSigner,
) -> None:
    from mesh.net import free_port

    async with build_client(signer, f"redis://127.0.0.1:{free_port()}/0") as http:
        response = await http.get("/me", headers=bearer(signer.token()))
    assert response.status_code == 503
    assert response.json()["code"] == "revocation_unavailable"


def openapi_of(environment: Environment, **settings_fields: Any) -> dict[str, Any]:
    router = APIRouter()

    @router.get("/me", openapi_extra=access(Access.AUTHENTICATED))
    async def me(user: CurrentUserDep) -> dict[str, str]:
        return {"sub": user.sub}

    @router.get("/open", openapi_extra=access(Access.PUBLIC))
    async def open_route() -> dict[str, str]:
        return {}

    settings = ServiceSettings.model_validate({"environment": environment, **settings_fields})
    return create_app("demo", settings, routers=[router], configure_logs=False).openapi()


def test_a_local_app_lets_swagger_ui_log_in_with_a_password_at_the_gateway() -> None:
    schema = openapi_of(Environment.LOCAL)

    schemes = schema["components"]["securitySchemes"]
    assert schemes["OAuth2Password"]["type"] == "oauth2"
    assert schemes["OAuth2Password"]["flows"] == {
        "password": {"tokenUrl": "/auth/login/swagger", "scopes": {}}
    }
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Access token from POST /auth/login",
    }
    assert schema["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}, {"OAuth2Password": []}]
    assert "security" not in schema["paths"]["/open"]["get"]


def test_the_password_login_posts_where_swagger_login_url_says_and_is_off_when_empty() -> None:
    moved = openapi_of(Environment.LOCAL, SWAGGER_LOGIN_URL="/identity/login/swagger")
    flows = moved["components"]["securitySchemes"]["OAuth2Password"]["flows"]
    assert flows["password"]["tokenUrl"] == "/identity/login/swagger"

    off = openapi_of(Environment.LOCAL, SWAGGER_LOGIN_URL="")
    assert list(off["components"]["securitySchemes"]) == ["HTTPBearer"]


@pytest.mark.parametrize("environment", [Environment.TEST, Environment.PRODUCTION])
def test_outside_local_only_the_bearer_token_is_offered(environment: Environment) -> None:
    schema = openapi_of(environment)

    assert list(schema["components"]["securitySchemes"]) == ["HTTPBearer"]
    assert schema["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "oauth2" not in json.dumps(schema).lower()
