"""The app factory: problem+json, request ids, health and readiness, documented errors."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from common.access import Access, access
from common.app import create_app
from common.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    error_responses,
)
from common.health import register_ready_check
from common.pagination import Page, PageQueryDep
from common.settings import ServiceSettings

PROBLEM = "application/problem+json"


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=128)


def build_app() -> FastAPI:
    router = APIRouter()

    @router.get("/things/{thing_id}", responses=error_responses(NotFoundError))
    async def get_thing(thing_id: int) -> dict[str, int]:
        if thing_id == 404:
            raise NotFoundError("There is no thing 404.", code="thing_not_found")
        if thing_id == 409:
            raise ConflictError("Taken.")
        if thing_id == 403:
            refused = ForbiddenError("You do not hold a:b.", code="not_held")
            refused.extensions = {"permission": "a:b", "code": "overridden?"}
            raise refused
        if thing_id == 500:
            raise RuntimeError("database password is hunter2")
        return {"id": thing_id}

    @router.post("/login", openapi_extra=access(Access.PUBLIC))
    async def login(body: Credentials) -> dict[str, str]:
        return {"user": body.username}

    @router.get("/mine", openapi_extra=access(Access.AUTHENTICATED))
    async def mine(page: PageQueryDep) -> Page[int]:
        items = list(range(1000))[page.offset : page.offset + page.limit]
        return Page(items=items, total=1000)

    return create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build_app()
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


async def test_domain_errors_become_problem_json_with_a_stable_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/demo/things/404")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "thing_not_found"
    assert body["detail"] == "There is no thing 404."
    assert body["instance"] == "/demo/things/404"
    assert body["type"].endswith(":thing_not_found")
    assert set(body) == {"type", "title", "status", "detail", "instance", "code"}


async def test_a_domain_error_adds_its_extension_members_but_cannot_replace_standard_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/demo/things/403")

    assert response.status_code == 403
    body = response.json()
    assert body["permission"] == "a:b"
    assert body["code"] == "not_held"
    assert set(body) == {"type", "title", "status", "detail", "instance", "code", "permission"}


async def test_validation_errors_name_the_field_and_never_echo_the_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/demo/login", json={"username": "bob", "password": "hunt3r"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert set(body["errors"][0]) == {"loc", "msg", "type"}
    assert "hunt3r" not in response.text


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/demo/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"username": "\xff"}', "JSON must be UTF-8 encoded"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
    ],
)
async def test_a_body_json_cannot_decode_is_the_same_422_as_malformed_json(
    client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await client.post(
        "/demo/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["detail"] == f"Invalid input at body: {reason}"
    assert problem["instance"] == "/demo/login"
    assert problem["errors"] == [
        {"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}
    ]


class UnknownColourError(InvalidInputError):
    code = "unknown_colour"
    title = "Unknown colour"


@pytest.mark.parametrize(
    ("error", "code", "issue_type"),
    [
        (UnknownColourError("colour", "no such colour"), "unknown_colour", "unknown_colour"),
        (InvalidInputError("colour", "too pale", code="too_pale"), "too_pale", "too_pale"),
        (InvalidInputError("colour", "no such colour"), "validation_failed", "value_error"),
    ],
    ids=["subclass-code", "code-argument", "generic"],
)
async def test_an_invalid_input_error_names_its_code_as_the_issue_type_too(
    error: InvalidInputError, code: str, issue_type: str
) -> None:
    router = APIRouter()

    @router.post("/paint")
    async def paint() -> None:
        raise error

    app = create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://demo"
    ) as http:
        problem = (await http.post("/demo/paint")).json()

    assert problem["code"] == code
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["body", "colour"], issue_type)]


async def test_a_no_content_answer_names_no_content_type() -> None:
    router = APIRouter()

    @router.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: int) -> None:
        return None

    app = create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://demo"
    ) as http:
        response = await http.delete("/demo/things/7")

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


async def test_unknown_paths_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/demo/nowhere")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    wrong_method = await client.delete("/demo/login")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    ["/demo/things/7/", "/things/7/"],
    ids=["direct", "behind-the-gateway-strip-prefix"],
)
async def test_a_trailing_slash_redirects_to_the_public_path(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(f"{path}?verbose=1")
    assert response.status_code == 307
    assert response.headers["location"] == "http://demo/demo/things/7?verbose=1"


async def test_unexpected_errors_leak_nothing_and_are_logged_under_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/demo/things/500", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "req-42" in response.json()["detail"]
    assert response.headers["x-request-id"] == "req-42"
    assert any("hunter2" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_request_ids_are_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/demo/health", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/demo/health")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await client.get("/demo/health", headers={"X-Request-Id": "bad id<script>"})
    assert hostile.headers["x-request-id"] != "bad id<script>"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_health_is_live_and_ready_names_the_failing_dependency() -> None:
    app = build_app()

    async def database_ok() -> None:
        return None

    async def broker_down() -> None:
        raise ConnectionError("refused")

    register_ready_check(app, "database", database_ok)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        assert (await http.get("/demo/health")).json() == {"status": "ok", "service": "demo"}
        ready = await http.get("/demo/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok"}
        register_ready_check(app, "broker", broker_down)
        not_ready = await http.get("/demo/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["code"] == "dependency_unavailable"
    assert "broker" in not_ready.json()["detail"]
    assert "database" not in not_ready.json()["detail"]


async def test_pagination_is_bounded(client: httpx.AsyncClient) -> None:
    page = (await client.get("/demo/mine", params={"limit": 5, "offset": 10})).json()
    assert page == {"items": [10, 11, 12, 13, 14], "total": 1000}
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        assert (await client.get("/demo/mine", params=params)).status_code == 422


async def test_openapi_documents_access_levels_permissions_and_problem_responses(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/demo/openapi.json")).json()
    assert spec["servers"] == [{"url": "/demo"}]
    thing = spec["paths"]["/things/{thing_id}"]["get"]
    assert thing["x-access"] == "permission"
    assert thing["x-permission"] == "demo:GET:/things/{thing_id}"
    assert {"401", "403", "404", "422", "500"} <= set(thing["responses"])
    assert "application/problem+json" in thing["responses"]["404"]["content"]
    login = spec["paths"]["/login"]["post"]
    assert login["x-access"] == "public"
    assert "401" not in login["responses"]
    mine = spec["paths"]["/mine"]["get"]
    assert mine["x-access"] == "authenticated"
    assert "401" in mine["responses"]
    assert "403" not in mine["responses"]
    health = spec["paths"]["/health"]["get"]
    assert health["x-access"] == "public"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_a_route_with_path_parameters_documents_the_gateways_bodiless_400(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/demo/openapi.json")).json()
    refused = spec["paths"]["/things/{thing_id}"]["get"]["responses"]["400"]
    assert "content" not in refused
    assert "encoded" in refused["description"]
    assert "400" not in spec["paths"]["/mine"]["get"]["responses"]


async def test_cors_is_off_by_default_and_follows_the_configured_origins() -> None:
    closed = httpx.ASGITransport(build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=closed, base_url="http://demo") as http:
        response = await http.get("/demo/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers

    settings = ServiceSettings(cors_origins=["https://app.example"])
    app = create_app("demo", settings, configure_logs=False)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        allowed = await http.options(
            "/demo/health",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        other = await http.get("/demo/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


async def test_successful_probes_stay_out_of_the_access_log_and_failing_ones_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_app()

    async def down() -> None:
        raise ConnectionError

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        with caplog.at_level(logging.INFO, logger="common.access"):
            await http.get("/demo/health")
            await http.get("/health")
            await http.get("/demo/ready")
            await http.get("/demo/things/7")
            register_ready_check(app, "broker", down)
            await http.get("/demo/ready")
    logged = [(r.path, r.status) for r in caplog.records if r.name == "common.access"]  # type: ignore[attr-defined]
    assert logged == [("/demo/things/7", 200), ("/demo/ready", 503)]
