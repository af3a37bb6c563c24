"""The registry fills itself from the manifests services publish."""

import pytest
from redis.asyncio import Redis

from common.route_manifest import RouteManifest, publish_manifest
from rbac.migrations import upgrade
from testkit.polling import until
from testkit.rbac_app import Rbac, StartRbac, manifest


async def routes(rbac: Rbac, **params: str) -> list[dict[str, object]]:
    response = await rbac.http.get(
        "/routes", params={"limit": "200", **params}, headers=rbac.admin_headers()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def test_rbac_lists_its_own_routes_without_authorize(rbac: Rbac) -> None:
    listed = {(r["method"], r["path"]): r for r in await routes(rbac, service="rbac")}
    assert listed["GET", "/health"]["public"] is True
    assert listed["GET", "/me/permissions"]["access"] == "authenticated"
    assert listed["POST", "/roles"]["permission"] == "rbac:POST:/roles"
    assert not any(path == "/authorize" for _, path in listed)


async def test_published_manifest_appears_in_the_registry(rbac: Rbac, redis: Redis) -> None:
    await publish_manifest(
        redis,
        manifest("scheduler", [("GET", "/tasks", "permission"), ("GET", "/health", "public")]),
    )
    listed = await until(lambda: routes(rbac, service="scheduler"), lambda items: len(items) == 7)
    assert {(r["permission"], r["public"]) for r in listed} == {
        ("scheduler:GET:/tasks", False),
        ("scheduler:GET:/health", True),
        ("scheduler:GET:/openapi.json", True),
        ("scheduler:GET:/docs", True),
        ("scheduler:GET:/docs/oauth2-redirect", True),
        ("scheduler:GET:/redoc", True),
        ("scheduler:GET:/docs/assets/{asset}", True),
    }


@pytest.mark.usefixtures("storage_registered")
async def test_route_missing_from_a_newer_manifest_is_stale_and_grants_nothing(
    rbac: Rbac, redis: Redis
) -> None:
    admin = rbac.signer.token(adm=True)
    assert (await rbac.authorize("POST", "/storage/uploads", admin)).status_code == 200
    await publish_manifest(redis, manifest("storage", [("GET", "/health", "public")]))
    response = await until(
        lambda: rbac.authorize("POST", "/storage/uploads", admin), lambda r: r.status_code == 403
    )
    assert response.json()["code"] == "unregistered_route"
    active = await routes(rbac, service="storage")
    assert {r["path"] for r in active} == {
        "/health",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/docs/assets/{asset}",
    }
    everything = await routes(rbac, service="storage", include_stale="true")
    stale = {r["path"] for r in everything if r["stale"]}
    assert "/uploads" in stale


async def test_manifest_stored_before_rbac_started_is_read_at_start(
    sql_url: str, redis_url: str, redis: Redis, start_rbac: StartRbac
) -> None:
    await upgrade(sql_url)
    # Stored but never announced: only the start-up scan can find it.
    await redis.set(
        "rbac:manifest:auth", manifest("auth", [("POST", "/login", "public")]).model_dump_json()
    )
    async with start_rbac(sql_url, redis_url) as rbac:
        assert (await rbac.authorize("POST", "/auth/login")).status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        manifest("Bad Name", [("GET", "/x", "permission")]),
        manifest("scheduler", [("GET", "no-slash", "permission")]),
        manifest("scheduler", [("BREW", "/x", "permission")]),
        manifest("other", [("GET", "/x", "permission")]),
    ],
)
async def test_malformed_manifest_is_ignored_and_the_listener_keeps_working(
    rbac: Rbac, redis: Redis, bad: RouteManifest
) -> None:
    await redis.set("rbac:manifest:scheduler", bad.model_dump_json())
    await redis.publish("rbac:manifests", "scheduler")
    await publish_manifest(redis, manifest("storage", [("GET", "/health", "public")]))
    allowed = await until(
        lambda: rbac.authorize("GET", "/storage/health"), lambda r: r.status_code == 200
    )
    assert allowed.status_code == 200
    assert await routes(rbac, service="scheduler") == []
    assert rbac.app.state.listener.connected.is_set()
