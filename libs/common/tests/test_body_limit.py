"""Every service refuses a request body over MAX_REQUEST_BODY_BYTES with a 413 problem, before
it buffers the body, whether the client declared its length or streamed it in chunks."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from common.access import Access, access
from common.app import create_app
from common.settings import ServiceSettings, load_settings

LIMIT = 4096


class Note(BaseModel):
    text: str


def build_app(bodies_read: list[int]) -> FastAPI:
    router = APIRouter()

    @router.post("/notes", status_code=201, openapi_extra=access(Access.PUBLIC))
    async def add_note(note: Note) -> Note:
        bodies_read.append(len(note.text))
        return note

    @router.get("/notes", openapi_extra=access(Access.PUBLIC))
    async def notes() -> list[Note]:
        return []

    settings = ServiceSettings(MAX_REQUEST_BODY_BYTES=LIMIT)
    return create_app("demo", settings, routers=[router], configure_logs=False)


@pytest.fixture
def bodies_read() -> list[int]:
    return []


@pytest.fixture
async def client(bodies_read: list[int]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(build_app(bodies_read))
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


def note_of(total_bytes: int) -> bytes:
    """A JSON note whose encoding is exactly `total_bytes` long."""
    frame = b'{"text": ""}'
    return frame[:-2] + b"x" * (total_bytes - len(frame)) + frame[-2:]


def in_chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return chunks()


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "payload_too_large"
    assert problem["detail"] == f"The request body is larger than {LIMIT} bytes."
    assert problem["instance"] == "/demo/notes"
    assert response.headers["x-request-id"]


async def test_a_body_at_the_limit_is_accepted(
    client: httpx.AsyncClient, bodies_read: list[int]
) -> None:
    body = note_of(LIMIT)
    response = await client.post(
        "/notes", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201
    assert bodies_read == [LIMIT - len(b'{"text": ""}')]


async def test_a_declared_length_over_the_limit_is_refused_before_the_route_runs(
    client: httpx.AsyncClient, bodies_read: list[int]
) -> None:
    response = await client.post(
        "/notes", content=note_of(LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    assert_too_large(response)
    assert bodies_read == []


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    client: httpx.AsyncClient, bodies_read: list[int]
) -> None:
    request = client.build_request(
        "POST",
        "/notes",
        content=in_chunks(note_of(LIMIT * 4)),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    response = await client.send(request)
    assert_too_large(response)
    assert bodies_read == []


async def test_a_chunked_body_within_the_limit_is_accepted(
    client: httpx.AsyncClient, bodies_read: list[int]
) -> None:
    response = await client.post(
        "/notes", content=in_chunks(note_of(LIMIT)), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201
    assert len(bodies_read) == 1


async def test_the_openapi_lists_the_413_on_routes_that_take_a_body_only(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    post = paths["/notes"]["post"]["responses"]
    assert post["413"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "413" not in paths["/notes"]["get"]["responses"]


def test_the_limit_is_two_mib_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_REQUEST_BODY_BYTES", raising=False)
    assert ServiceSettings().max_request_body_bytes == 2 * 1024 * 1024
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "65536")
    assert ServiceSettings().max_request_body_bytes == 65536


def test_a_limit_too_small_for_any_api_body_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_REQUEST_BODY_BYTES", "100")
    with pytest.raises(SystemExit, match="MAX_REQUEST_BODY_BYTES"):
        load_settings(ServiceSettings)
