"""`python -m mesh.serve PACKAGE.app:create_app --port N`: an API service under uvicorn that
leaves the gateway's rotation before it stops.

On SIGTERM the service first drains: for `MESH_DRAIN_SECONDS` (3 s, more than the gateway's 1 s
health-check interval plus its 1 s timeout) it keeps serving everything except `/health` and
`/ready`, which answer 503, so Traefik stops sending it new requests; then uvicorn's graceful
shutdown closes the listener and finishes the requests in flight, for at most
`GRACEFUL_SHUTDOWN_SECONDS`. Without the drain, a request Traefik had already written on a
kept-alive connection when uvicorn closed it would come back as a 502 that no retry may repeat.
A second signal (or SIGINT) stops at once, as uvicorn does.
"""

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from mesh.net import LOOPBACK

DEFAULT_DRAIN_SECONDS = 3.0
GRACEFUL_SHUTDOWN_SECONDS = 10
PROBES = frozenset({"/health", "/ready"})
_DRAINING_BODY = json.dumps(
    {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "this instance is shutting down",
        "code": "draining",
    }
).encode()

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
App = Callable[[Scope, Receive, Send], Any]


class Draining:
    """ASGI middleware: the probes answer 503 once `draining` is set; all else passes."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.draining = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.draining.is_set() and scope["path"] in PROBES:
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"retry-after", b"5"),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _DRAINING_BODY})
            return
        await self.app(scope, receive, send)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gate: Draining, drain_seconds: float) -> None:
        super().__init__(config)
        self.gate = gate
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.gate.draining.is_set() or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        self.gate.draining.set()
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def load_factory(target: str) -> Callable[[], App]:
    module_name, _, attribute = target.partition(":")
    factory: Callable[[], App] = getattr(importlib.import_module(module_name), attribute)
    return factory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.serve", description=__doc__)
    parser.add_argument("factory", help="module:function building the ASGI app")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    gate = Draining(load_factory(args.factory)())
    config = uvicorn.Config(
        gate,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=LOOPBACK,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    drain = float(os.environ.get("MESH_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
    DrainingServer(config, gate, drain).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
