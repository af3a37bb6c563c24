"""`mesh token`: an access token for shell use, from the RSA login every client does.

    curl -H "Authorization: Bearer $(uv run mesh token)" http://127.0.0.1:8000/auth/me

The login is the reference client's (`testkit.auth_client`, installed with the workspace), so the
command follows any change of the login's envelope. testkit depends on mesh, hence the import
inside the function rather than a dependency declared the other way round.
"""

import asyncio
import getpass
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from mesh.state import StateDir

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_ADMIN = "admin"


class TokenError(Exception):
    """No token: the reason is for the person at the shell."""


@dataclass(frozen=True)
class Credentials:
    url: str
    username: str
    password: str


def admin_username() -> str:
    return os.environ.get("ADMIN_USERNAME") or DEFAULT_ADMIN


def gateway_url(state: StateDir, given: str | None) -> str:
    """`--url`, else `MESH_URL` (as the examples take it), else the gateway of the mesh running
    from `state`, else the default port."""
    given = given or os.environ.get("MESH_URL")
    if given:
        return given.rstrip("/")
    _, meta = state.recorded()
    recorded = meta.get("url")
    return str(recorded).rstrip("/") if recorded else DEFAULT_URL


def password_for(state: StateDir, username: str, password_file: Path | None) -> str:
    """The password from `--password-file`; for the admin, the one `mesh up` seeded; else asked."""
    if password_file is not None:
        try:
            return password_file.read_text().strip()
        except OSError as error:
            raise TokenError(f"cannot read {password_file}: {error.strerror}") from error
    if username == admin_username():
        configured = os.environ.get("ADMIN_PASSWORD")
        if configured:
            return configured
        if state.admin_password_file.exists():
            return state.admin_password_file.read_text().strip()
        raise TokenError(
            f"no admin password in {state.admin_password_file}; start the mesh with this "
            "--state-dir, or pass --password-file"
        )
    if not os.isatty(0):
        raise TokenError(f"no password for {username!r}: pass --password-file")
    return getpass.getpass(f"password for {username!r}: ")


async def _access_token(credentials: Credentials) -> str:
    from testkit.auth_client import LoginFailedError, login

    async with httpx.AsyncClient(base_url=credentials.url, timeout=30) as http:
        try:
            pair = await login(http, credentials.username, credentials.password)
        except LoginFailedError as error:
            detail = _problem_detail(error.response)
            raise TokenError(f"login refused ({error.response.status_code}): {detail}") from error
        except httpx.HTTPError as error:
            raise TokenError(f"cannot reach the gateway at {credentials.url}: {error}") from error
    return pair.access_token


def _problem_detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def access_token(credentials: Credentials) -> str:
    return asyncio.run(_access_token(credentials))
