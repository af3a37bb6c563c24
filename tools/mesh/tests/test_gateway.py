"""The local gateway counts as ready only once it routes, not merely once it listens."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from mesh.gateway import (
    DECISION_MIDDLEWARE,
    ROUTING_PROBE_ROUTER,
    gateway_dir,
    render_static_config,
    server_status,
    traefik_launch,
    traefik_middleware_enabled,
    traefik_routing,
)
from mesh.launch import running
from mesh.net import free_port


@pytest.fixture
def gateway() -> Iterator[tuple[int, dict[str, int]]]:
    """A stand-in for Traefik's web entry point answering the probe with `status["probe"]`."""
    status = {"probe": 404}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = (
                status["probe"] if self.path == f"/api/http/routers/{ROUTING_PROBE_ROUTER}" else 500
            )
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def test_a_gateway_that_has_not_loaded_its_routes_is_not_ready(
    gateway: tuple[int, dict[str, int]],
) -> None:
    port, _ = gateway

    with pytest.raises(ConnectionError, match="no docs@file router"):
        traefik_routing(port)


def test_a_gateway_whose_api_lists_the_docs_router_is_ready(
    gateway: tuple[int, dict[str, int]],
) -> None:
    port, status = gateway
    status["probe"] = 200

    traefik_routing(port)


def test_the_rendered_config_serves_the_api_only_on_the_loopback_internal_entry_point(
    tmp_path: Path,
) -> None:
    rendered = yaml.safe_load(
        render_static_config(gateway_dir() / "traefik.yml", 8000, 8082, tmp_path)
    )
    assert rendered["api"] == {"insecure": True, "dashboard": False}
    assert rendered["entryPoints"]["traefik"]["address"] == "127.0.0.1:8082"
    assert rendered["ping"] == {"entryPoint": "traefik"}
    assert set(rendered["entryPoints"]) == {"web", "traefik"}


    server_status,
    traefik_launch,
    traefik_middleware_enabled,
