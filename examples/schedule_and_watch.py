"""Schedule a task, run it at once, and watch its runs.

    uv run python examples/schedule_and_watch.py

`demo.add` is one of the tasks the worker registers (`GET /scheduler/tasks` lists them all).
Gateway and admin password as in login_and_call.py.
"""

import asyncio
import os
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
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
        tokens = await login(http, USERNAME, PASSWORD)
        http.headers["Authorization"] = f"Bearer {tokens.access_token}"

        body = {
            "name": f"example-{uuid.uuid4().hex[:8]}",
            "task": "demo.add",
            "args": [20, 22],
            "schedule": {"type": "interval", "every": 5, "period": "seconds"},
        }
        task = (await http.post("/scheduler/periodic-tasks", json=body)).raise_for_status().json()
        print("scheduled", task["name"], "every 5 s")
        try:
            now = await http.post(f"/scheduler/periodic-tasks/{task['id']}/run")
            print("run now accepted:", now.raise_for_status().json()["task_id"])
            for _ in range(60):  # watch for up to 30 s
                runs = await http.get(f"/scheduler/periodic-tasks/{task['id']}/runs")
                finished = [r for r in runs.raise_for_status().json()["items"] if r["finished_at"]]
                if len(finished) >= 2:
                    break
                await asyncio.sleep(0.5)
            else:
                raise SystemExit("no two finished runs within 30 s: is the worker up?")
            for run in finished:
                print(run["state"], run["task"], run["args"], "->", run["result"])
        finally:
            (await http.delete(f"/scheduler/periodic-tasks/{task['id']}")).raise_for_status()
            print("deleted", task["name"])


asyncio.run(main())
