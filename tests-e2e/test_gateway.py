"""The gateway, like a client sees it: routing by prefix, forwardAuth on every router, docs."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from testkit.auth_client import login

pytestmark = pytest.mark.e2e

SERVICES = ("auth", "rbac", "storage", "scheduler")


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_answers_health_under_its_prefix(
    http: httpx.AsyncClient, service: str
) -> None:
    response = await http.get(f"/{service}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": service}


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_docs_and_openapi_work_through_the_gateway(
    http: httpx.AsyncClient, service: str
) -> None:
    spec = await http.get(f"/{service}/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == f"{service} service"
    page = await http.get(f"/{service}/docs")
    assert page.status_code == 200
    assert f"/{service}/openapi.json" in page.text


async def test_docs_page_offers_every_service_in_one_swagger_ui(http: httpx.AsyncClient) -> None:
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for service in SERVICES:
        assert f"/{service}/openapi.json" in response.text


async def test_a_protected_route_without_a_token_is_a_401_problem(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/storage/files")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "missing_token"


@pytest.mark.parametrize("path", ["/rbac/authorize", "/rbac/authorize/", "/rbac/%61uthorize"])
async def test_the_authorize_endpoint_is_not_reachable_from_outside(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path, headers={"X-Forwarded-Uri": "/rbac/roles"})
    assert response.status_code == 404


async def test_identity_headers_sent_by_a_client_grant_nothing(http: httpx.AsyncClient) -> None:
    forged = {"X-User-Id": "someone", "X-User-Admin": "true", "X-User-Name": "admin"}
    response = await http.get("/rbac/routes", headers=forged)
    assert response.status_code == 401


async def test_an_unknown_prefix_is_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/nowhere/health")).status_code == 404


async def _in_chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_services_limit_is_a_413_problem_through_the_gateway(
    http: httpx.AsyncClient, framing: str
) -> None:
    # A public route, so the body reaches the service: the gateway neither buffers nor caps it.
    oversized = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}'
    response = await http.post(
        "/auth/login",
        content=oversized if framing == "content-length" else _in_chunks(oversized),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["instance"] == "/auth/login"


async def test_the_request_id_a_client_sends_comes_back(http: httpx.AsyncClient) -> None:
    response = await http.get("/auth/health", headers={"X-Request-Id": "e2e-gateway-42"})
    assert response.headers["x-request-id"] == "e2e-gateway-42"
    generated = await http.get("/auth/health")
    assert generated.headers["x-request-id"]


async def test_the_admin_reaches_every_service_with_one_token(
    mesh: Any, http: httpx.AsyncClient
) -> None:
    pair = await login(http, mesh.admin_username, mesh.admin_password)
    http.headers["Authorization"] = f"Bearer {pair.access_token}"
    me = await http.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == mesh.admin_username
    assert me.json()["is_admin"] is True
    for path in ("/rbac/routes", "/storage/files", "/scheduler/periodic-tasks"):
        assert (await http.get(path)).status_code == 200, path


@pytest.mark.parametrize("path", ["/auth/me", "/rbac/routes", "/storage/files"])
async def test_head_is_answered_wherever_get_is_like_get_without_the_body(
    admin: httpx.AsyncClient, path: str
) -> None:
    get = await admin.get(path)
    head = await admin.head(path)
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""


async def test_head_without_a_token_is_refused_like_get(http: httpx.AsyncClient) -> None:
    response = await http.head("/storage/files")
    assert response.status_code == 401
