"""A real browser (Debian's Chromium, headless, through Playwright) receives a task's run events
on the console page each service with events serves, through the gateway.

The page trades the access token (in the URL fragment, which is never sent) for a single-use
ticket and opens the socket with it, as browsers must: they cannot set `Authorization` on one.
"""

import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect

from testkit.gateway import Gateway

pytestmark = pytest.mark.e2e

WAIT_MS = 30_000


@pytest.fixture
def http_timeout() -> float:
    return 30


async def test_the_console_page_shows_a_tasks_run_events(
    mesh: Gateway, admin: httpx.AsyncClient, browser: Browser
) -> None:
    body = {
        "name": f"e2e-browser-{uuid.uuid4().hex[:8]}",
        "task": "demo.add",
        "args": [1, 2],
        "enabled": False,
        "schedule": {"type": "interval", "every": 3600, "period": "seconds"},
    }
    task = (await admin.post("/scheduler/periodic-tasks", json=body)).json()
    token = admin.headers["Authorization"].split()[1]
    context = await browser.new_context()
    try:
        page = await context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        url = f"{mesh.url}/scheduler/events/console?periodic_task_id={task['id']}#token={token}"
        await page.goto(url)
        await expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)
        run = await admin.post(f"/scheduler/periodic-tasks/{task['id']}/run")
        assert run.status_code == 202, run.text
        done = page.locator('#events li[data-state="SUCCESS"]')
        await expect(done).to_have_count(1, timeout=WAIT_MS)
        await expect(done).to_contain_text(run.json()["task_id"])
        await expect(page.locator('#events li[data-state="STARTED"]')).to_have_count(1)
        # The socket carried a ticket, never the token.
        assert sockets
        assert all("ticket=" in s and token not in s for s in sockets)
    finally:
        await context.close()
        await admin.delete(f"/scheduler/periodic-tasks/{task['id']}")
