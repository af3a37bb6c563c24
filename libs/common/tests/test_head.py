"""HEAD is answered wherever GET is: GET's status and headers, no body (RFC 9110 §9.3.2)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from common.access import Access, access
from common.app import create_app
from common.errors import NotFoundError, error_responses
from common.settings import ServiceSettings

calls: list[str] = []


def build_app() -> FastAPI:
    router = APIRouter()

    @router.get("/reports/{report_id}", responses=error_responses(NotFoundError))
    async def get_report(report_id: int) -> dict[str, str]:
        calls.append(f"get {report_id}")
        if report_id == 404:
            raise NotFoundError("There is no report 404.")
        return {"title": "quarterly figures", "body": "x" * 5000}

    @router.post("/reports", status_code=201, openapi_extra=access(Access.PUBLIC))
    async def add_report() -> dict[str, str]:
        calls.append("post")
        return {}

    return create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    calls.clear()
    transport = httpx.ASGITransport(build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


async def test_head_answers_with_the_headers_get_would_send_and_no_body(
    client: httpx.AsyncClient,
) -> None:
    get = await client.get("/demo/reports/7")
    head = await client.head("/demo/reports/7")

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.headers["x-request-id"]
    assert calls == ["get 7", "get 7"]


async def test_head_of_a_missing_resource_is_the_same_404_without_its_problem_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.head("/demo/reports/404")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.content == b""


async def test_head_where_get_is_not_served_is_a_405_and_runs_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.head("/demo/reports")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == b""
    assert calls == []
