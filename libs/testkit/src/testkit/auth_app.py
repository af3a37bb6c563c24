"""An auth app running in process, for tests and benchmarks (no server, no network).

    await seed_admin(settings, "admin", password)          # auth.seed
    async with running_auth(create_app(settings), settings, admin_password=password) as auth:
        pair = await auth.login("admin", password)

testkit imports no service: the caller builds auth's app and seeds its admin.
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from common.settings import ServiceSettings
from testkit.auth_client import TokenPair, login

DEFAULT_USER_AGENT = "auth-tests/1.0"


def _client(app: FastAPI, access_token: str | None, headers: dict[str, str]) -> httpx.AsyncClient:
    all_headers = {"User-Agent": DEFAULT_USER_AGENT, **headers}
    if access_token:
        all_headers["Authorization"] = f"Bearer {access_token}"
    # On the app's own transport: a default client builds an SSL context (0.1 s of CPU).
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app, raise_app_exceptions=False),
        base_url="http://auth",
        headers=all_headers,
    )


@dataclass(frozen=True)
class RunningAuth[S: ServiceSettings = ServiceSettings]:
    app: FastAPI
    http: httpx.AsyncClient
    settings: S
    admin_username: str
    admin_password: str

    def client(self, access_token: str | None = None, **headers: str) -> httpx.AsyncClient:
        """A new client on the app (close it); the gateway's `/auth` prefix is in the paths."""
        return _client(self.app, access_token, headers)

    async def login(self, username: str, password: str) -> TokenPair:
        return await login(self.http, username, password)

    async def admin(self) -> httpx.AsyncClient:
        """A client signed in as the seeded admin."""
        pair = await self.login(self.admin_username, self.admin_password)
        return self.client(pair.access_token)

    async def create_user(
        self,
        password: str = "a long enough password",  # noqa: S107 - a test account
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a user through the admin API and return it."""
        fields.setdefault("username", f"user-{uuid.uuid4().hex[:10]}")
        async with await self.admin() as admin:
            response = await admin.post("/auth/users", json={"password": password, **fields})
        if response.status_code != 201:
            raise RuntimeError(f"user creation failed: {response.status_code} {response.text}")
        user: dict[str, Any] = response.json()
        return user


@asynccontextmanager
async def running_auth[S: ServiceSettings](
    app: FastAPI, settings: S, *, admin_username: str = "admin", admin_password: str
) -> AsyncIterator[RunningAuth[S]]:
    """`app` (auth's, built on `settings`) with its lifespan running; its schema must exist and
    the admin be seeded."""
    async with app.router.lifespan_context(app), _client(app, None, {}) as http:
        yield RunningAuth(app, http, settings, admin_username, admin_password)
