"""The local gateway counts as ready only once it routes, not merely once it listens."""

import json
import threading
import urllib.request
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

ROUTER_PATH = f"/api/http/routers/{ROUTING_PROBE_ROUTER}"
MIDDLEWARE_PATH = f"/api/http/middlewares/{DECISION_MIDDLEWARE}"


@pytest.fixture
def traefik_api() -> Iterator[tuple[int, dict[str, object]]]:
    """A stand-in for Traefik's API: a path in `listed` answers 200 with its JSON, any other 404."""
    listed: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in listed:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            encoded = json.dumps(listed[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], listed
    finally:
        server.shutdown()
        server.server_close()


def test_a_gateway_that_has_not_loaded_its_routes_is_not_ready(
    traefik_api: tuple[int, dict[str, object]],
) -> None:
    port, _ = traefik_api

    with pytest.raises(ConnectionError, match="no docs@file router"):
        traefik_routing(port)


def test_a_gateway_whose_api_lists_the_docs_router_is_ready(
    traefik_api: tuple[int, dict[str, object]],
) -> None:
    port, listed = traefik_api
    listed[ROUTER_PATH] = {"status": "enabled"}

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


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # compose: one URL per service
        ({"AUTH_URL": "http://127.0.0.1:9"}, ["http://127.0.0.1:9"]),
        # the mesh's --replicas: every instance, whatever AUTH_URL says
        (
            {
                "AUTH_URL": "http://127.0.0.1:9",
                "AUTH_URLS": "http://127.0.0.1:7,http://127.0.0.1:8",
            },
            ["http://127.0.0.1:7", "http://127.0.0.1:8"],
        ),
    ],
)
def test_the_gateway_balances_over_every_url_of_a_service(
    tmp_path: Path, env: dict[str, str], expected: list[str]
) -> None:
    ping = free_port()
    others = {f"{name}_URL": "http://127.0.0.1:9" for name in ("RBAC", "STORAGE", "SCHEDULER")}
    launch = traefik_launch(tmp_path / "traefik.yml", free_port(), ping, {**others, **env})
    with running(launch, tmp_path / "traefik.log"):
        assert sorted(server_status(ping, "auth")) == expected


def test_a_gateway_whose_decision_plugin_did_not_load_is_not_ready(
    traefik_api: tuple[int, dict[str, object]],
) -> None:
    port, listed = traefik_api
    with pytest.raises(ConnectionError, match="no authorize@file middleware"):
        traefik_middleware_enabled(port, DECISION_MIDDLEWARE)

    listed[MIDDLEWARE_PATH] = {"status": "disabled", "error": ["plugin rbacauth: failed to import"]}
    with pytest.raises(ConnectionError, match="disabled: plugin rbacauth: failed to import"):
        traefik_middleware_enabled(port, DECISION_MIDDLEWARE)

    listed[MIDDLEWARE_PATH] = {"status": "enabled"}
    traefik_middleware_enabled(port, DECISION_MIDDLEWARE)


def test_the_gateway_runs_in_its_directory_so_that_traefik_finds_its_local_plugins(
    tmp_path: Path,
) -> None:
    launch = traefik_launch(tmp_path / "traefik.yml", 8000, 8082, {})

    assert launch.cwd == gateway_dir()
    static = yaml.safe_load((tmp_path / "traefik.yml").read_text())
    for plugin in static["experimental"]["localPlugins"].values():
        source = gateway_dir() / "plugins-local" / "src" / plugin["moduleName"]
        assert (source / ".traefik.yml").is_file()


@pytest.mark.parametrize(
    ("urls", "checked"),
    [("http://127.0.0.1:9", False), ("http://127.0.0.1:7,http://127.0.0.1:8", True)],
)
def test_only_a_service_of_several_instances_is_health_checked(
    tmp_path: Path, urls: str, checked: bool
) -> None:
    """A lone instance is never marked down: a check timing out on a busy machine would
    answer "no available server" with nothing to fail over to."""
    ping = free_port()
    others = {f"{name}_URL": "http://127.0.0.1:9" for name in ("RBAC", "STORAGE", "SCHEDULER")}
    env = {**others, "AUTH_URL": urls.split(",")[0], "AUTH_URLS": urls}
    launch = traefik_launch(tmp_path / "traefik.yml", free_port(), ping, env)
    with running(launch, tmp_path / "traefik.log"):
        url = f"http://127.0.0.1:{ping}/api/http/services/auth@file"
        with urllib.request.urlopen(url, timeout=5) as response:
            service = json.loads(response.read())
    assert ("healthCheck" in service["loadBalancer"]) is checked
