"""Drive a running rbac app in tests: its lifespan, listener and `/authorize`, in process.

Used by rbac's own test suite; kept in the package so that suite can import it by name.
"""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from fastapi import FastAPI

from common.route_manifest import RouteEntry, RouteManifest
from common.tokens import KeySource
from rbac.app import create_app
from rbac.settings import RbacSettings


class Signer(Protocol):
    """What a test token signer offers (testkit's `TokenSigner` fits)."""

    issuer: str
    audience: str

    def keys(self) -> KeySource: ...

    def token(self, **overrides: Any) -> str: ...


@dataclass
class Rbac:
    app: FastAPI
    http: httpx.AsyncClient
    signer: Signer

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(adm=True, name='root')}"}

    async def authorize(
        self, method: str, uri: str, token: str | None = None, **headers: str
    ) -> httpx.Response:
        sent = {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, **headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return await self.http.get("/authorize", headers=sent)


@asynccontextmanager
async def running_rbac(database_url: str, redis_url: str, signer: Signer) -> AsyncIterator[Rbac]:
    settings = RbacSettings(
        database_url=database_url,
        redis_url=redis_url,
        jwt_issuer=signer.issuer,
        jwt_audience=signer.audience,
        listener_heartbeat_seconds=0.5,
    )
    app = create_app(settings, keys=signer.keys(), configure_logs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://rbac") as http:
            yield Rbac(app, http, signer)


def manifest(service: str, routes: list[tuple[str, str, str]]) -> RouteManifest:
    """A manifest of `(method, path, access)` routes, as `common.route_manifest` would build."""
    entries = [
        RouteEntry.model_validate(
            {
                "service": service,
                "method": method,
                "path": path,
                "permission": f"{service}:{method}:{path}",
                "access": level,
            }
        )
        for method, path, level in routes
    ]
    return RouteManifest(
        service=service,
        routes=entries,
        digest=hashlib.sha256(repr(routes).encode()).hexdigest(),
        published_at=time.time(),
    )


async def eventually[T](
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 5.0
) -> T:
    """Poll `probe` until `accept` holds; the last value otherwise (the caller's assert fails)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)
