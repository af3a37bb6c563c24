"""Traefik for the local mesh: the repo's gateway/ configuration with loopback addresses."""

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from mesh.launch import Launch, venv_binary
from mesh.net import LOOPBACK

GATEWAY_DIR_ENV = "MESH_GATEWAY_DIR"
# Traefik's own API, on the internal entry point: it answers 404 until the file provider has
# loaded the probed router (the docs router of gateway/), 200 after. Requests to Traefik's
# internal services are not in the access log, so the probe leaves no line there (asking `/docs`
# on the web entry point did).
ROUTING_PROBE_ROUTER = "docs@file"
# The access decision is a local plugin (gateway/plugins-local): when it fails to load, Traefik
# disables every router that uses it (they answer 404) and keeps the rest, so readiness also
# asks that the middleware is enabled.
DECISION_MIDDLEWARE = "authorize@file"
INTERNAL_ENTRY_POINT = "traefik"  # the name Traefik serves its API on
AUTHORIZE_ENTRY_POINT = "authorize"
# With several rbac instances, the `authorize` middleware's address (`RBAC_URL`) is this loopback
# entry point of the gateway itself, which balances over rbac's instances (the same `rbac`
# service, health-checked) and retries a call that reached no instance: forwardAuth takes one
# URL. Only the local mesh adds it; gateway/dynamic stays as it is.
AUTHORIZE_BALANCER = {
    "http": {
        "routers": {
            "mesh-authorize": {
                "rule": "Path(`/authorize`)",
                "entryPoints": [AUTHORIZE_ENTRY_POINT],
                "middlewares": ["mesh-authorize-retried"],
                "service": "rbac",
            }
        },
        "middlewares": {"mesh-authorize-retried": {"retry": {"attempts": 3}}},
    }
}


def gateway_dir() -> Path:
    """`gateway/` of this checkout (or `MESH_GATEWAY_DIR`)."""
    configured = os.environ.get(GATEWAY_DIR_ENV)
    if configured:
        return Path(configured).resolve()
    for base in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in (base, *base.parents):
            candidate = parent / "gateway"
            if (candidate / "traefik.yml").is_file():
                return candidate
    raise FileNotFoundError(
        f"gateway/traefik.yml not found above {Path.cwd()}; set {GATEWAY_DIR_ENV}"
    )


def render_static_config(
    source: Path, port: int, ping_port: int, dynamic_dir: Path, authorize_port: int | None = None
) -> str:
    """The static configuration with loopback addresses, the file provider only; the ping
    entry point also serves Traefik's read-only API (no dashboard), for the readiness probe.
    With `authorize_port`, an entry point on which the gateway balances its own forwardAuth
    calls over rbac's replicas (`AUTHORIZE_BALANCER`)."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["entryPoints"]["web"]["address"] = f"{LOOPBACK}:{port}"
    if authorize_port is not None:
        config["entryPoints"][AUTHORIZE_ENTRY_POINT] = {
            "address": f"{LOOPBACK}:{authorize_port}",
            # Only the gateway itself calls it: its X-Forwarded-Method/-Uri reach rbac as sent.
            "forwardedHeaders": {"trustedIPs": [f"{LOOPBACK}/32"]},
        }
    internal = config["entryPoints"].pop("ping")
    internal["address"] = f"{LOOPBACK}:{ping_port}"
    config["entryPoints"][INTERNAL_ENTRY_POINT] = internal
    config["ping"] = {"entryPoint": INTERNAL_ENTRY_POINT}
    config["api"] = {"insecure": True, "dashboard": False}
    config["providers"] = {"file": {"directory": str(dynamic_dir), "watch": True}}
    return yaml.safe_dump(config, sort_keys=False)


def traefik_ping(ping_port: int) -> None:
    url = f"http://{LOOPBACK}:{ping_port}/ping"
    with urllib.request.urlopen(url, timeout=2) as response:
        if response.status != 200:
            raise ConnectionError(f"traefik ping answered {response.status}")


def traefik_routing(ping_port: int, probe_router: str = ROUTING_PROBE_ROUTER) -> None:
    """Raise until the gateway routes: /ping answers as soon as the entry points listen, but the
    routers come from the file provider a moment later. Whether the service behind a router is
    up is that service's own readiness (a `--only` mesh may leave it out)."""
    url = f"http://{LOOPBACK}:{ping_port}/api/http/routers/{probe_router}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status != 200:
        raise ConnectionError(
            f"the gateway has no {probe_router} router yet ({url} answered {status})"
        )


def traefik_middleware_enabled(ping_port: int, middleware: str) -> None:
    """Raise unless Traefik lists `middleware` as enabled (a plugin that did not load is not)."""
    url = f"http://{LOOPBACK}:{ping_port}/api/http/middlewares/{middleware}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            listed: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        raise ConnectionError(
            f"the gateway has no {middleware} middleware yet ({exc.code})"
        ) from exc
    if listed.get("status") != "enabled":
        raise ConnectionError(
            f"the gateway's {middleware} middleware is {listed.get('status')}: "
            f"{'; '.join(listed.get('error') or [])}"
        )


def traefik_ready(
    ping_port: int,
    probe_router: str = ROUTING_PROBE_ROUTER,
    probe_middleware: str | None = DECISION_MIDDLEWARE,
) -> None:
    traefik_ping(ping_port)
    traefik_routing(ping_port, probe_router)
    if probe_middleware is not None:
        traefik_middleware_enabled(ping_port, probe_middleware)


def traefik_launch(
    config_path: Path,
    port: int,
    ping_port: int,
    env: dict[str, str],
    gateway: Path | None = None,
    probe_router: str = ROUTING_PROBE_ROUTER,
    authorize_port: int | None = None,
    probe_middleware: str | None = DECISION_MIDDLEWARE,
) -> Launch:
    """Traefik on `gateway/` (or another configuration directory of that shape); ready once
    `probe_router`, one of its routers, is loaded and `probe_middleware` enabled. It runs in
    that directory: Traefik reads local plugins from `./plugins-local` under its working
    directory (gateway/plugins-local holds the access decision's source). With
    `authorize_port`, the dynamic directory is a copy of links to gateway/dynamic's files plus
    `AUTHORIZE_BALANCER`."""
    gateway = gateway or gateway_dir()
    config_path.parent.mkdir(parents=True, exist_ok=True)
    dynamic = gateway / "dynamic"
    if authorize_port is not None:
        dynamic = config_path.parent / "dynamic"
        if dynamic.exists():
            shutil.rmtree(dynamic)
        dynamic.mkdir()
        for source in sorted((gateway / "dynamic").glob("*.yml")):
            (dynamic / source.name).symlink_to(source.resolve())
        (dynamic / "zz-mesh-authorize.yml").write_text(yaml.safe_dump(AUTHORIZE_BALANCER))
    config_path.write_text(
        render_static_config(gateway / "traefik.yml", port, ping_port, dynamic, authorize_port)
    )
    return Launch(
        "traefik",
        [venv_binary("traefik"), f"--configFile={config_path}"],
        ready=lambda: traefik_ready(ping_port, probe_router, probe_middleware),
        env=env,
        cwd=gateway,
    )


def server_status(ping_port: int, service: str) -> dict[str, str]:
    """`{server URL: "UP" | "DOWN"}` of one of the gateway's services, as its health check
    last saw them."""
    url = f"http://{LOOPBACK}:{ping_port}/api/http/services/{service}@file"
    with urllib.request.urlopen(url, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
    status: dict[str, str] = body.get("serverStatus", {})
    return status
