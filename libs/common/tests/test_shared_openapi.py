"""Apps of one shape share their OpenAPI document (built once per process), and each app still
gets exactly what building its own would give, as a copy of its own."""

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from common.app import create_app
from common.openapi import SharedSchemas
from common.settings import ServiceSettings


def things_router() -> APIRouter:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    return router


def app_of(router: APIRouter, name: str = "demo", **settings: Any) -> FastAPI:
    return create_app(name, ServiceSettings(**settings), routers=[router], configure_logs=False)


def test_a_second_app_of_the_same_routers_gets_an_equal_document_of_its_own() -> None:
    router = things_router()
    first, second = app_of(router), app_of(router)

    assert second.openapi() == first.openapi()
    assert second.openapi() is not first.openapi()
    second.openapi()["paths"].clear()  # a caller changing its copy changes no other app's
    assert "/things/{thing_id}" in app_of(router).openapi()["paths"]


def test_apps_of_other_routes_or_names_get_their_own_documents() -> None:
    router, other = things_router(), things_router()
    paths = app_of(router).openapi()["paths"]

    @other.get("/more")
    async def more() -> dict[str, str]:
        return {}

    assert "/more" in app_of(other).openapi()["paths"]
    assert "/more" not in app_of(router).openapi()["paths"]
    renamed = app_of(router, name="other").openapi()["paths"]
    get_thing = renamed["/things/{thing_id}"]["get"]
    assert get_thing["x-permission"] == "other:GET:/things/{thing_id}"
    assert renamed != paths


def test_a_route_added_to_a_router_after_an_app_was_documented_is_documented_next_time() -> None:
    router = things_router()
    assert "/later" not in app_of(router).openapi()["paths"]

    @router.get("/later")
    async def later() -> dict[str, str]:
        return {}

    assert "/later" in app_of(router).openapi()["paths"]


def test_a_route_added_to_the_app_itself_is_documented() -> None:
    router = things_router()
    app_of(router).openapi()
    app = app_of(router)

    @app.get("/extra")
    async def extra() -> dict[str, str]:
        return {}

    assert "/extra" in app.openapi()["paths"]


def test_the_shared_document_is_the_one_fastapi_builds() -> None:
    router = things_router()
    app_of(router).openapi()
    app = app_of(router)
    built = get_openapi(title=app.title, version=app.version, routes=app.routes)

    assert app.openapi()["paths"].keys() == built["paths"].keys()


def test_shared_schemas_build_once_per_shape_and_forget_the_oldest() -> None:
    schemas = SharedSchemas(size=2)
    made: list[str] = []
    a, b = object(), object()

    def make(label: str) -> Any:
        def build() -> dict[str, Any]:
            made.append(label)
            return {"label": label}

        return build

    assert schemas.get(("x",), [a], make("a")) == {"label": "a"}
    assert schemas.get(("x",), [a], make("again")) == {"label": "a"}
    assert schemas.get(("y",), [a], make("other values")) == {"label": "other values"}
    assert schemas.get(("x",), [b], make("other objects")) == {"label": "other objects"}
    assert schemas.get(("x",), [a], make("evicted")) == {"label": "evicted"}
    assert made == ["a", "other values", "other objects", "evicted"]
