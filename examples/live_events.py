"""Watch a task's runs as they happen, over the scheduler's WebSocket through the gateway.

    uv run python examples/live_events.py

A non-browser client sends its token in `Authorization`; a browser would trade it for a
single-use ticket first (`POST /scheduler/events/tickets`, then `?ticket=`). On a dropped
connection, reconnect with `?last_event_id=` (the last `id` seen) and nothing is lost.
Gateway and admin password as in login_and_call.py.
"""

import asyncio
import json
import os
import uuid
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

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
            "name": f"live-{uuid.uuid4().hex[:8]}",
            "task": "demo.add",
            "args": [20, 22],
            "enabled": False,  # runs only when asked to
            "schedule": {"type": "interval", "every": 1, "period": "hours"},
        }
        task = (await http.post("/scheduler/periodic-tasks", json=body)).raise_for_status().json()
        socket = GATEWAY.replace("http", "ws", 1) + "/scheduler/events"
        watch = f"{socket}?periodic_task_id={task['id']}"  # this task's runs only
        token = {"Authorization": http.headers["Authorization"]}
        try:
            async with connect(watch, additional_headers=token) as ws:
                welcome = json.loads(await ws.recv())
                print("connected; events after", welcome["last_event_id"])
                await http.post(f"/scheduler/periodic-tasks/{task['id']}/run")
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if message["type"] != "event":
                        continue  # heartbeats
                    run = message["data"]
                    print(message["id"], run["state"], run["task"], run.get("result", ""))
                    if run["state"] in ("SUCCESS", "FAILURE", "LOST"):
                        break
        finally:
            (await http.delete(f"/scheduler/periodic-tasks/{task['id']}")).raise_for_status()


asyncio.run(main())
