"""Log in as the admin and call the API through the gateway.

    uv run python examples/login_and_call.py

The gateway is MESH_URL (default http://127.0.0.1:8000); the password is ADMIN_PASSWORD, else
the one `make up` wrote to .mesh/admin-password in this repository.
"""

import asyncio
import os
from pathlib import Path

import httpx

from testkit.auth_client import login  # the reference client: RSA-encrypted password + nonce

REPO = Path(__file__).resolve().parent.parent
GATEWAY = os.environ.get("MESH_URL", "http://127.0.0.1:8000")
STATE_DIR = Path(os.environ.get("MESH_STATE_DIR", REPO / ".mesh"))
USERNAME = os.environ.get("ADMIN_USERNAME", "admin")
PASSWORD = os.environ.get("ADMIN_PASSWORD") or (STATE_DIR / "admin-password").read_text().strip()


async def main() -> None:
    async with httpx.AsyncClient(base_url=GATEWAY) as http:
        tokens = await login(http, USERNAME, PASSWORD)
        http.headers["Authorization"] = f"Bearer {tokens.access_token}"

        me = (await http.get("/auth/me")).raise_for_status().json()
        print("signed in as", me["username"], "- admin:", me["is_admin"])
        permissions = (await http.get("/rbac/me/permissions")).raise_for_status().json()
        print("roles:", permissions["roles"], "-", len(permissions["permissions"]), "permissions")
        tasks = (await http.get("/scheduler/tasks")).raise_for_status().json()
        print("tasks the workers run:", [task["name"] for task in tasks])


asyncio.run(main())
