"""An auth app running in process, for tests and benchmarks (no server, no network).

async with running_auth(settings, admin_password="...") as auth:
    pair = await auth.login("admin", "...")
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from auth.app import create_app
from auth.seed import seed_admin
from auth.settings import AuthSettings
from testkit.auth_client import TokenPair, login

DEFAULT_USER_AGENT = "auth-tests/1.0"


@dataclass
class RunningAuth:
    app: FastAPI
    http: httpx.AsyncClient
    settings: AuthSettings
    admin_username: str
    admin_password: str

    def client(self, access_token: str | None = None, **headers: str) -> httpx.AsyncClient:
        """A new client on the app (close it); the gateway's `/auth` prefix is in the paths."""
        all_headers = {"User-Agent": DEFAULT_USER_AGENT, **headers}
        if access_token:
            all_headers["Authorization"] = f"Bearer {access_token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(self.app, raise_app_exceptions=False),
            base_url="http://auth",
            headers=all_headers,
        )

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
async def running_auth(
    settings: AuthSettings, *, admin_username: str = "admin", admin_password: str
) -> AsyncIterator[RunningAuth]:
    """The app with its lifespan running and the admin seeded (the schema must exist)."""
    await seed_admin(settings, admin_username, admin_password)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # On the app's own transport: a default client builds an SSL context (0.1 s of CPU).
        placeholder = httpx.AsyncClient(transport=httpx.ASGITransport(app))
        auth = RunningAuth(app, placeholder, settings, admin_username, admin_password)
        await placeholder.aclose()
        async with auth.client() as http:
            auth.http = http
            yield auth
