"""`mesh.serve`: on SIGTERM a service fails its probes first (the gateway stops routing to it),
keeps serving meanwhile, then finishes what is in flight and exits."""

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx

from mesh.net import free_port, poll_until

APP = textwrap.dedent(
    """
    import asyncio


    def create_app():
        async def app(scope, receive, send):
            if scope["type"] != "http":
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    message = await receive()
                await send({"type": "lifespan.shutdown.complete"})
                return
            if scope["path"] == "/slow":
                await asyncio.sleep(2)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": scope["path"].encode()})

        return app
    """
)
DRAIN_SECONDS = 1.5


def test_sigterm_fails_the_probes_first_then_drains_in_flight_requests(tmp_path: Path) -> None:
    (tmp_path / "drain_app.py").write_text(APP)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "mesh.serve", "drain_app:create_app", "--port", str(port)],
        env={"PYTHONPATH": str(tmp_path), "MESH_DRAIN_SECONDS": str(DRAIN_SECONDS)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def serving() -> None:
            httpx.get(f"{base}/health").raise_for_status()

        poll_until(serving, 30)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503
        assert health.headers["content-type"] == "application/problem+json"
        assert health.json()["code"] == "draining"
        assert httpx.get(f"{base}/ready").status_code == 503
        assert httpx.get(f"{base}/files").status_code == 200  # still serving meanwhile

        # A request still running when the listener closes is finished, not cut.
        slow: list[int] = []
        started = threading.Thread(
            target=lambda: slow.append(httpx.get(f"{base}/slow", timeout=10).status_code)
        )
        time.sleep(max(0.0, DRAIN_SECONDS - 0.5 - (time.monotonic() - sent)))
        started.start()
        code = proc.wait(timeout=20)
        started.join()
        assert slow == [200]
        assert time.monotonic() - sent >= DRAIN_SECONDS
        assert code in (0, -signal.SIGTERM)
    finally:
        proc.kill()
        proc.wait()
