"""Users and roles made through the gateway's admin API for one end-to-end test.

`Accounts` makes them with an admin's client and deletes every one it made in `aclose()`:

    accounts = Accounts(admin)             # admin: a client carrying an admin's access token
    user = await accounts.signed_in()      # a fresh user, and a client carrying their token
    await accounts.grant(user.id, "storage:GET:*")
    await accounts.aclose()                # closes the clients, deletes the users and roles
"""

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from testkit.auth_client import login


@dataclass(frozen=True)
class Account:
    """A user's id and the credentials they sign in with."""

    id: str
    username: str
    password: str


@dataclass(frozen=True)
class User:
    """A fresh user and a client of the gateway that sends their access token."""

    id: str
    http: httpx.AsyncClient


@asynccontextmanager
async def signed_in(
    base_url: httpx.URL | str, username: str, password: str, *, timeout: httpx.Timeout | float
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `base_url` that sends `username`'s access token with every request."""
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
        pair = await login(http, username, password)
        http.headers["Authorization"] = f"Bearer {pair.access_token}"
        yield http


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        pytest.fail(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}, not {status}: {response.text}"
        )


class Accounts:
    """Creates users and roles as `admin`; `aclose()` deletes every one it created."""

    def __init__(self, admin: httpx.AsyncClient) -> None:
        self.admin = admin
        self._clients = AsyncExitStack()
        self._user_ids: list[str] = []
        self._role_codes: list[str] = []

    async def create(self, *roles: str) -> Account:
        """A fresh active user holding `roles`, not signed in."""
        username = f"e2e-{uuid.uuid4().hex[:10]}"
        password = secrets.token_urlsafe(24)
        response = await self.admin.post(
            "/auth/users", json={"username": username, "password": password, "name": "E2E User"}
        )
        _expect(response, 201)
        account = Account(response.json()["id"], username, password)
        self._user_ids.append(account.id)
        if roles:
            await self.bind(account.id, *roles)
        return account

    async def signed_in(self, *roles: str) -> User:
        """A fresh user holding `roles`, signed in through the gateway."""
        account = await self.create(*roles)
        http = await self._clients.enter_async_context(
            signed_in(
                self.admin.base_url, account.username, account.password, timeout=self.admin.timeout
            )
        )
        return User(account.id, http)

    async def role(self, *permissions: str) -> str:
        """The code of a new role granting `permissions`."""
        code = f"e2e-{uuid.uuid4().hex[:10]}"
        response = await self.admin.post(
            "/rbac/roles", json={"code": code, "name": code, "permissions": list(permissions)}
        )
        _expect(response, 201)
        self._role_codes.append(code)
        return code

    async def bind(self, user_id: str, *roles: str) -> None:
        """Make `roles` the user's only roles (none: take every role away)."""
        response = await self.admin.put(f"/rbac/users/{user_id}/roles", json={"roles": list(roles)})
        _expect(response, 200)

    async def grant(self, user_id: str, *permissions: str) -> None:
        """Make a new role granting `permissions` the user's only role."""
        await self.bind(user_id, await self.role(*permissions))

    async def aclose(self) -> None:
        """Close the clients, then delete the users and the roles (unbinding them)."""
        await self._clients.aclose()
        deleted = [await self.admin.delete(f"/auth/users/{user_id}") for user_id in self._user_ids]
        deleted += [
            await self.admin.delete(f"/rbac/roles/{code}", params={"force": True})
            for code in self._role_codes
        ]
        for response in deleted:
            _expect(response, 204)
