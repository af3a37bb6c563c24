"""The local gateway counts as ready only once it routes, not merely once it listens."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mesh.gateway import ROUTING_PROBE_PATH, traefik_routing


@pytest.fixture
def gateway() -> Iterator[tuple[int, dict[str, int]]]:
    """A stand-in for Traefik's web entry point answering the probe with `status["probe"]`."""
    status = {"probe": 404}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status["probe"] if self.path == ROUTING_PROBE_PATH else 500
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

    with pytest.raises(ConnectionError, match="no route"):
        traefik_routing(port)


@pytest.mark.parametrize("answer", [200, 502])
def test_a_gateway_whose_docs_route_matches_is_ready_whether_or_not_rbac_is_up(
    gateway: tuple[int, dict[str, int]], answer: int
) -> None:
    port, status = gateway
    status["probe"] = answer

    traefik_routing(port)
