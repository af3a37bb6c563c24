"""A JSON body's booleans and numbers are taken only as JSON has them; query integers are digits."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Form, Query
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt

from common.app import create_app
from common.pagination import PageQueryDep
from common.settings import ServiceSettings
from common.strict_input import DecimalDigits, LaxBodyError, refuse_lax_bodies


class Point(BaseModel):
    latitude: StrictFloat
    label: str = ""


class Thing(BaseModel):
    active: StrictBool = True
    count: StrictInt | None = None
    points: list[Point] = []
    extra: dict[str, Any] = {}


def build_app() -> FastAPI:
    router = APIRouter()

    @router.post("/things")
    async def add_thing(thing: Thing) -> Thing:
        return thing

    @router.get("/things")
    async def list_things(
        page: PageQueryDep, size: Annotated[int | None, Query(ge=-5), DecimalDigits] = None
    ) -> dict[str, int | None]:
        return {"limit": page.limit, "offset": page.offset, "size": size}

    return create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"active": 0}, ["body", "active"]),
        ({"active": 1}, ["body", "active"]),
        ({"active": "yes"}, ["body", "active"]),
        ({"active": "true"}, ["body", "active"]),
        ({"count": "10"}, ["body", "count"]),
        ({"count": 10.0}, ["body", "count"]),
        ({"count": True}, ["body", "count"]),
        ({"points": [{"latitude": "48.5"}]}, ["body", "points", 0, "latitude"]),
        ({"points": [{"latitude": False}]}, ["body", "points", 0, "latitude"]),
    ],
)
async def test_a_body_boolean_or_number_of_another_json_type_is_422(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[str | int]
) -> None:
    response = await client.post("/demo/things", json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [loc]


async def test_a_body_takes_json_booleans_and_numbers_and_an_integer_for_a_float(
    client: httpx.AsyncClient,
) -> None:
    body = {"active": False, "count": 10, "points": [{"latitude": 48}], "extra": {"n": "1"}}
    response = await client.post("/demo/things", json=body)
    assert response.status_code == 200
    assert response.json() == {
        "active": False,
        "count": 10,
        "points": [{"latitude": 48.0, "label": ""}],
        "extra": {"n": "1"},
    }


@pytest.mark.parametrize("value", ["1.0", "1_0", "1e1", " 10", "+10", "ten", ""])
async def test_a_query_integer_that_is_not_decimal_digits_is_422(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/demo/things", params={"limit": value, "size": value})
    assert response.status_code == 422
    locs = sorted(str(error["loc"]) for error in response.json()["errors"])
    assert locs == ["['query', 'limit']", "['query', 'size']"]


async def test_query_integers_are_read_from_their_digits(client: httpx.AsyncClient) -> None:
    response = await client.get("/demo/things", params={"limit": "10", "size": "-3"})
    assert response.status_code == 200
    assert response.json() == {"limit": 10, "offset": 0, "size": -3}


async def test_query_integer_bounds_stay_in_the_openapi_and_are_enforced(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/demo/openapi.json")).json()
    params = {p["name"]: p["schema"] for p in schema["paths"]["/things"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 200)
    assert params["offset"]["minimum"] == 0
    assert params["size"]["anyOf"][0] == {"type": "integer", "minimum": -5}
    assert (await client.get("/demo/things", params={"size": "-6"})).status_code == 422


class LaxInner(BaseModel):
    weight: float


class LaxBody(BaseModel):
    enabled: bool
    sizes: list[int | None] = []
    inner: LaxInner | None = None
    name: str = ""


def test_a_router_with_lax_body_fields_is_refused_naming_each() -> None:
    router = APIRouter()

    @router.post("/lax")
    async def lax(body: LaxBody) -> None:
        return None

    with pytest.raises(LaxBodyError) as refused:
        refuse_lax_bodies(router)
    assert str(refused.value).splitlines()[1:] == [
        "POST /lax body.enabled: a lax bool, use StrictBool",
        "POST /lax body.sizes: a lax int, use StrictInt",
        "POST /lax body.inner.weight: a lax float, use StrictFloat",
    ]
    with pytest.raises(LaxBodyError):
        create_app("demo", ServiceSettings(), routers=[router], configure_logs=False)


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True)

    enabled: bool


def test_strict_fields_forms_queries_and_strict_models_pass() -> None:
    router = APIRouter()

    @router.post("/things")
    async def add_thing(thing: Thing, dry_run: bool = False, limit: int = 1) -> None:
        return None

    @router.post("/strict")
    async def strict(body: StrictModel) -> None:
        return None

    @router.post("/form")
    async def form(retries: Annotated[int, Form()]) -> None:
        return None

    refuse_lax_bodies(router)
