"""A 405's Allow header names every method the path is served with, not one route's."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from common.allowed_methods import HTTP_METHODS
from common.app import create_app
from common.settings import ServiceSettings

PROBLEM = "application/problem+json"


def build_app() -> FastAPI:
    items = APIRouter()

    @items.get("/items")
    async def list_items() -> list[int]:
        return []

    @items.post("/items", status_code=201)
    async def create_item() -> int:
        return 1

    @items.get("/items/{item_id}")
    async def get_item(item_id: int) -> int:
        return item_id

    @items.delete("/items/{item_id}", status_code=204)
    async def delete_item(item_id: int) -> None:
        return None

    @items.get("/files/{name}")
    async def get_file(name: str) -> str:
        return name

    @items.delete("/files/{file_id:int}", status_code=204)
    async def delete_file(file_id: int) -> None:
        return None

    @items.delete("/frozen/{thing_id}")
    async def delete_frozen(thing_id: int) -> None:
        raise HTTPException(405, "Frozen things cannot be deleted.", headers={"Allow": "GET"})

    @items.get("/frozen/{thing_id}")
    async def get_frozen(thing_id: int) -> int:
        return thing_id

    versioned = APIRouter(prefix="/v1")
    versioned.include_router(items, prefix="/shop")
    app = create_app("demo", ServiceSettings(), routers=[items, versioned], configure_logs=False)

    async def legacy(request: Request) -> PlainTextResponse:
        return PlainTextResponse("legacy")

    app.mount(
        "/legacy",
        Router(
            [Route("/items", legacy, methods=["GET"]), Route("/items", legacy, methods=["PUT"])]
        ),
    )
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


async def test_a_405_lists_every_method_the_path_serves_in_allow(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/demo/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_a_405_on_a_path_with_a_parameter_lists_every_route_of_that_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.patch("/demo/items/7")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, DELETE"


async def test_allow_counts_a_route_only_when_its_path_convertor_accepts_the_path(
    client: httpx.AsyncClient,
) -> None:
    numeric = await client.put("/demo/files/7")
    named = await client.put("/demo/files/report.pdf")
    assert numeric.headers["allow"] == "GET, HEAD, DELETE"
    assert named.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/demo/items", "/demo/items/7", "/demo/files/7", "/demo/health"])
async def test_allow_names_exactly_the_methods_that_are_not_answered_with_405(
    client: httpx.AsyncClient, path: str
) -> None:
    responses = {m: await client.request(m, path) for m in HTTP_METHODS}
    served = {m for m, response in responses.items() if response.status_code != 405}
    assert responses["TRACE"].status_code == 405
    assert set(responses["TRACE"].headers["allow"].split(", ")) == served


@pytest.mark.parametrize("path", ["/demo/openapi.json", "/demo/items/7"])
async def test_allow_includes_head_wherever_get_is_served(
    client: httpx.AsyncClient, path: str
) -> None:
    # Starlette's own routes (docs, openapi.json) and FastAPI's alike.
    response = await client.put(path)
    assert response.status_code == 405
    assert response.headers["allow"].startswith("GET, HEAD")


@pytest.mark.parametrize(
    "path",
    [
        "/demo/v1/shop/items",  # as sent to the service directly
        "/v1/shop/items",  # as the gateway forwards it, with /demo stripped
    ],
)
async def test_allow_is_complete_under_router_prefixes_and_the_root_path(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.delete(path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.json()["instance"] == "/demo/v1/shop/items"


async def test_allow_is_complete_behind_a_mount(client: httpx.AsyncClient) -> None:
    response = await client.post("/demo/legacy/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PUT"


async def test_a_405_an_endpoint_raises_itself_keeps_the_allow_it_chose(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete("/demo/frozen/3")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["detail"] == "Frozen things cannot be deleted."


async def test_a_405_is_the_usual_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.put("/demo/items/7")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET, HEAD, DELETE"
    assert response.json() == {
        "type": "tag:async-fastapi-multidb,2026:problem:method_not_allowed",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "Method Not Allowed",
        "instance": "/demo/items/7",
        "code": "method_not_allowed",
    }
