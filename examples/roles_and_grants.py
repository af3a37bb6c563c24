"""Create a user and a role, grant the role, and see the gateway apply it.

    uv run python examples/roles_and_grants.py

Permission codes are `{service}:{METHOD}:{path}` (`GET /rbac/routes` lists every route's);
a role may grant patterns such as `storage:GET:*`. Gateway and admin password as in
login_and_call.py.
"""

import asyncio
import os
import secrets
import uuid
from pathlib import Path

import httpx

from testkit.auth_client import login

REPO = Path(__file__).resolve().parent.parent
GATEWAY = os.environ.get("MESH_URL", "http://127.0.0.1:8000")
STATE_DIR = Path(os.environ.get("MESH_STATE_DIR", REPO / ".mesh"))
USERNAME = os.environ.get("ADMIN_USERNAME", "admin")
PASSWORD = os.environ.get("ADMIN_PASSWORD") or (STATE_DIR / "admin-password").read_text().strip()


async def main() -> None:
    async with (
        httpx.AsyncClient(base_url=GATEWAY, timeout=30) as admin,
        httpx.AsyncClient(base_url=GATEWAY, timeout=30) as user,
    ):
        tokens = await login(admin, USERNAME, PASSWORD)
        admin.headers["Authorization"] = f"Bearer {tokens.access_token}"

        suffix = uuid.uuid4().hex[:8]
        name, password = f"reader-{suffix}", secrets.token_urlsafe(16)
        account = {"username": name, "password": password, "name": "Example reader"}
        created = (await admin.post("/auth/users", json=account)).raise_for_status().json()
        role = {
            "code": f"file-reader-{suffix}",
            "name": "File reader",
            "permissions": ["storage:GET:*"],
        }
        (await admin.post("/rbac/roles", json=role)).raise_for_status()
        try:
            user_tokens = await login(user, name, password)
            user.headers["Authorization"] = f"Bearer {user_tokens.access_token}"
            print(
                "before the grant, GET /storage/files:",
                (await user.get("/storage/files")).status_code,
            )

            bound = await admin.put(
                f"/rbac/users/{created['id']}/roles", json={"roles": [role["code"]]}
            )
            print("granted:", bound.raise_for_status().json()["roles"])
            for _ in range(20):  # the gateway applies a change within a second
                listed = await user.get("/storage/files")
                if listed.status_code == 200:
                    break
                await asyncio.sleep(0.25)
            print("after the grant, GET /storage/files:", listed.status_code)
            print(
                "still refused, POST /rbac/roles:",
                (await user.post("/rbac/roles", json=role)).status_code,
            )
        finally:
            # A role still bound to someone cannot be deleted: unbind, then delete both.
            await admin.put(f"/rbac/users/{created['id']}/roles", json={"roles": []})
            (await admin.delete(f"/auth/users/{created['id']}")).raise_for_status()
            (await admin.delete(f"/rbac/roles/{role['code']}")).raise_for_status()


asyncio.run(main())
