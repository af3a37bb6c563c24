"""`mesh token` prints an access token a shell passes to curl, as the README shows."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mesh.state import write_private
from mesh.supervisor import Mesh
from testkit.accounts import Accounts
from testkit.gateway import Gateway

pytestmark = pytest.mark.e2e


async def mesh_token(*args: str) -> subprocess.CompletedProcess[str]:
    """`uv run mesh token ARGS`, in an environment that names no admin password."""
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_PASSWORD", "ADMIN_USERNAME")}
    command = [sys.executable, "-m", "mesh.cli", "token", *args]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False, env=env
    )


def state_dir_args(mesh: Gateway, tmp_path: Path) -> list[str]:
    """The mesh's own state dir, where `mesh up` left the admin password and the gateway URL;
    for a deployed mesh, a state dir holding only its admin password."""
    if isinstance(mesh, Mesh):
        return ["--state-dir", str(mesh.state.root)]
    write_private(tmp_path / "admin-password", mesh.admin_password + "\n")
    return ["--state-dir", str(tmp_path), "--url", mesh.url]


async def whoami(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_mesh_token_prints_the_admins_token_from_the_state_dir(
    mesh: Gateway, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    done = await mesh_token(*state_dir_args(mesh, tmp_path))

    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    me = await whoami(http, token)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == mesh.admin_username


async def test_mesh_token_logs_in_another_user_with_a_password_file(
    mesh: Gateway, http: httpx.AsyncClient, accounts: Accounts, tmp_path: Path
) -> None:
    account = await accounts.create()
    password_file = tmp_path / "password"
    password_file.write_text(account.password + "\n")

    done = await mesh_token(
        *state_dir_args(mesh, tmp_path),
        "--user",
        account.username,
        "--password-file",
        str(password_file),
    )

    assert done.returncode == 0, done.stderr
    me = await whoami(http, done.stdout.strip())
    assert me.json()["username"] == account.username


async def test_a_refused_login_prints_no_token_and_says_why(
    mesh: Gateway, accounts: Accounts, tmp_path: Path
) -> None:
    account = await accounts.create()
    password_file = tmp_path / "password"
    password_file.write_text("not-the-password\n")

    done = await mesh_token(
        *state_dir_args(mesh, tmp_path),
        "--user",
        account.username,
        "--password-file",
        str(password_file),
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert "login refused (401)" in done.stderr
