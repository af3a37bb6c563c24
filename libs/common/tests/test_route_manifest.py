"""Route manifests: what a service publishes so the rbac registry knows every route."""

import json

import pytest
from fastapi import APIRouter, Depends

from common.access import Access, access
from common.app import create_app
from common.redis_client import create_redis
from common.route_manifest import (
    MANIFEST_CHANNEL,
    RouteManifest,
    build_manifest,
    manifest_key,
    publish_app_routes,
)
from common.security import AdminUserDep, admin_user
from common.settings import ServiceSettings


def demo_app() -> object:
    router = APIRouter()

    @router.post("/uploads")
    async def create_upload() -> dict[str, str]:
        return {}

    @router.get("/files/{file_id}")
    async def get_file(file_id: str) -> dict[str, str]:
        return {"id": file_id}

    @router.get("/me", openapi_extra=access(Access.AUTHENTICATED))
    async def me() -> dict[str, str]:
        return {}

    @router.get("/buckets")
    async def buckets(_admin: AdminUserDep) -> dict[str, str]:
        return {}

    @router.delete("/buckets/{name}", dependencies=[Depends(admin_user)])
    async def delete_bucket(name: str) -> dict[str, str]:
        return {}

    return create_app("storage", ServiceSettings(), routers=[router], configure_logs=False)


def test_the_manifest_lists_every_route_with_its_access_and_permission_code() -> None:
    from fastapi import FastAPI

    app = demo_app()
    assert isinstance(app, FastAPI)
    manifest = build_manifest("storage", app.openapi())
    by_route = {(r.method, r.path): r for r in manifest.routes}
    assert by_route[("POST", "/uploads")].permission == "storage:POST:/uploads"
    assert by_route[("POST", "/uploads")].access is Access.PERMISSION
    assert by_route[("GET", "/files/{file_id}")].permission == "storage:GET:/files/{file_id}"
    assert by_route[("GET", "/me")].access is Access.AUTHENTICATED
    assert by_route[("GET", "/health")].access is Access.PUBLIC
    assert by_route[("GET", "/ready")].access is Access.PUBLIC


def test_a_route_that_depends_on_admin_user_is_listed_as_admin_only() -> None:
    from fastapi import FastAPI

    app = demo_app()
    assert isinstance(app, FastAPI)
    spec = app.openapi()
    manifest = build_manifest("storage", spec)
    by_route = {(r.method, r.path): r for r in manifest.routes}

    assert by_route[("GET", "/buckets")].access is Access.ADMIN
    assert by_route[("DELETE", "/buckets/{name}")].access is Access.ADMIN
    assert by_route[("GET", "/buckets")].permission == "storage:GET:/buckets"
    buckets = spec["paths"]["/buckets"]["get"]
    assert buckets["x-access"] == "admin"
    assert "admin_required" in buckets["responses"]["403"]["description"]


def test_admin_only_access_cannot_be_declared_by_a_marker_alone() -> None:
    # The gateway would refuse non-admins while the service, lacking AdminUserDep, let them in.
    with pytest.raises(ValueError, match="AdminUserDep"):
        access(Access.ADMIN)


def test_the_digest_changes_only_when_routes_change() -> None:
    from fastapi import FastAPI

    app = demo_app()
    assert isinstance(app, FastAPI)
    first = build_manifest("storage", app.openapi())
    second = build_manifest("storage", app.openapi())
    assert first.digest == second.digest
    spec = app.openapi()
    spec = json.loads(json.dumps(spec))
    spec["paths"]["/new"] = {"get": {"summary": "New"}}
    assert build_manifest("storage", spec).digest != first.digest


async def test_publishing_stores_the_manifest_and_announces_it(redis_url: str) -> None:
    from fastapi import FastAPI

    app = demo_app()
    assert isinstance(app, FastAPI)
    redis = create_redis(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(MANIFEST_CHANNEL)
    await pubsub.get_message(timeout=1)
    await publish_app_routes(app, redis)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    stored = RouteManifest.model_validate_json(await redis.get(manifest_key("storage")) or "")
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()
    assert message is not None
    assert message["data"] == "storage"
    assert any(r.path == "/uploads" for r in stored.routes)
