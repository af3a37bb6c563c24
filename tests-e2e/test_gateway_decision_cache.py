"""The gateway remembers allows for a moment (gateway/dynamic/routes.yml, `authorize`:
`cacheMilliseconds`); every change that can turn an allow into a deny is still in force at the
gateway within the 1 s contract, even when the allow it overturns was remembered just before.

Each row: a user whose request is allowed, asked for in a burst so that the gateway holds the
allow, then the change, at once; the same request must be refused within 1 s and stay refused.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from common.access import ACCESS_KEY, PERMISSION_KEY
from common.redis_client import create_redis
from common.route_manifest import RouteManifest, build_manifest, manifest_key, publish_manifest
from mesh.supervisor import Mesh
from testkit.accounts import Accounts, User
from testkit.gateway import Gateway
from testkit.polling import eventually, within

pytestmark = pytest.mark.e2e

# ARCHITECTURE.md: a change made through the API is in force at the gateway within 1 second.
CONTRACT_SECONDS = 1.0
PROBE = "/storage/files"
PERMISSION = "storage:GET:/files"


@dataclass
class Subject:
    user: User
    role: str
    accounts: Accounts
    redis_url: str | None

    async def probe(self) -> httpx.Response:
        return await self.user.http.get(PROBE, params={"limit": 1})


Change = Callable[[Subject], Awaitable[None]]


async def logout(subject: Subject) -> None:
    response = await subject.user.http.post("/auth/logout")
    assert response.status_code == 204, response.text


async def disable_user(subject: Subject) -> None:
    response = await subject.accounts.admin.patch(
        f"/auth/users/{subject.user.id}", json={"is_active": False}
    )
    assert response.status_code == 200, response.text


async def unbind_role(subject: Subject) -> None:
    await subject.accounts.bind(subject.user.id)


async def remove_permission(subject: Subject) -> None:
    response = await subject.accounts.admin.patch(
        f"/rbac/roles/{subject.role}", json={"permissions": ["storage:GET:/buckets"]}
    )
    assert response.status_code == 200, response.text


async def deactivate_role(subject: Subject) -> None:
    response = await subject.accounts.admin.patch(
        f"/rbac/roles/{subject.role}", json={"is_active": False}
    )
    assert response.status_code == 200, response.text


async def unregister_route(subject: Subject) -> None:
    """storage's manifest without `GET /files`, as if storage restarted without that route
    (the `registry` fixture publishes the real one back afterwards)."""
    assert subject.redis_url is not None
    redis = create_redis(subject.redis_url)
    try:
        stored = await redis.get(manifest_key("storage"))
        assert stored is not None
        current = RouteManifest.model_validate_json(stored)
        paths: dict[str, dict[str, Any]] = {}
        for route in current.routes:
            if (route.method, route.path) != ("GET", "/files"):
                paths.setdefault(route.path, {})[route.method.lower()] = {
                    ACCESS_KEY: route.access.value,
                    PERMISSION_KEY: route.permission,
                    "summary": route.summary,
                }
        shrunk = build_manifest("storage", {"paths": paths})
        assert len(shrunk.routes) == len(current.routes) - 1
        await publish_manifest(redis, shrunk)
    finally:
        await redis.aclose()


CHANGES: list[tuple[str, Change, int]] = [
    ("logout", logout, 401),
    ("disable user", disable_user, 401),
    ("role unbound", unbind_role, 403),
    ("permission removed from the role", remove_permission, 403),
    ("role deactivated", deactivate_role, 403),
    ("route gone from the registry", unregister_route, 403),
]


@pytest.fixture
async def registry(mesh: Gateway, admin: httpx.AsyncClient) -> AsyncIterator[str | None]:
    """The mesh's Redis URL (None for a deployed mesh); storage's manifest as it was is
    published back after the test, and the gateway serves storage's `GET /files` again."""
    if not isinstance(mesh, Mesh):
        yield None
        return
    redis_url = mesh.service_url("redis")
    redis = create_redis(redis_url)
    try:
        original = await redis.get(manifest_key("storage"))
        yield redis_url
        assert original is not None
        await publish_manifest(redis, RouteManifest.model_validate_json(original))
    finally:
        await redis.aclose()
    await eventually(
        lambda: admin.get(PROBE, params={"limit": 1}),
        lambda r: r.status_code == 200,
        timeout=30,
        interval=0.1,
    )


@pytest.mark.parametrize(
    ("change", "refused_with"),
    [pytest.param(change, status, id=name) for name, change, status in CHANGES],
)
async def test_a_change_that_can_deny_is_in_force_within_a_second_of_a_remembered_allow(
    accounts: Accounts, registry: str | None, change: Change, refused_with: int
) -> None:
    if change is unregister_route and registry is None:
        pytest.skip("the registry row needs the mesh's Redis (a local mesh)")
    role = await accounts.role(PERMISSION, "storage:GET:/buckets")
    user = await accounts.signed_in(role)
    subject = Subject(user, role, accounts, registry)
    allowed = await within(CONTRACT_SECONDS, subject.probe, 200)
    assert allowed.status_code == 200, allowed.text
    # A burst: the gateway now holds this allow (it is asked again at most every 250 ms).
    for _ in range(5):
        assert (await subject.probe()).status_code == 200

    await change(subject)
    changed = time.monotonic()
    refused = await within(CONTRACT_SECONDS, subject.probe, refused_with)
    took = time.monotonic() - changed

    assert refused.status_code == refused_with, f"{refused.status_code} after {took:.2f}s"
    assert refused.headers["content-type"] == "application/problem+json"
    # And it stays refused: no remembered allow comes back.
    for _ in range(10):
        assert (await subject.probe()).status_code == refused_with
        await asyncio.sleep(0.03)
