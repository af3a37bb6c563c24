"""Drive a running rbac app in tests: its lifespan, listener and `/authorize`, in process.

testkit imports no service: the caller builds rbac's app (`rbac.app.create_app`) with the
signer's keys and hands it to `running_rbac`.
"""

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from common.route_manifest import RouteEntry, RouteManifest
from testkit.tokens import TokenSigner


@dataclass
class Rbac:
    app: FastAPI
    http: httpx.AsyncClient
    signer: TokenSigner

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.token(adm=True, name='root')}"}

    async def authorize(
        self, method: str, uri: str, token: str | None = None, **headers: str
    ) -> httpx.Response:
        sent = {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, **headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return await self.http.get("/authorize", headers=sent)


# Starts rbac on a database URL and a Redis URL: the rbac suite's `start_rbac` fixture.
StartRbac = Callable[[str, str], AbstractAsyncContextManager["Rbac"]]


@asynccontextmanager
async def running_rbac(app: FastAPI, signer: TokenSigner) -> AsyncIterator[Rbac]:
    """`app` (rbac's, verifying `signer`'s tokens) with its lifespan running, and a client."""
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
