"""Traefik for the local mesh: the repo's gateway/ configuration with loopback addresses."""

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from mesh.launch import Launch, venv_binary
from mesh.net import LOOPBACK

GATEWAY_DIR_ENV = "MESH_GATEWAY_DIR"
# A path the gateway's own routes always match (the docs page): no 404 means the routes loaded.
ROUTING_PROBE_PATH = "/docs"


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


def render_static_config(source: Path, port: int, ping_port: int, dynamic_dir: Path) -> str:
    """The static configuration with loopback addresses, the file provider only."""
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["entryPoints"]["web"]["address"] = f"{LOOPBACK}:{port}"
    config["entryPoints"]["ping"]["address"] = f"{LOOPBACK}:{ping_port}"
    config["providers"] = {"file": {"directory": str(dynamic_dir), "watch": True}}
    return yaml.safe_dump(config, sort_keys=False)


def traefik_ping(ping_port: int) -> None:
    url = f"http://{LOOPBACK}:{ping_port}/ping"
    with urllib.request.urlopen(url, timeout=2) as response:
        if response.status != 200:
            raise ConnectionError(f"traefik ping answered {response.status}")


def traefik_routing(port: int, probe_path: str = ROUTING_PROBE_PATH) -> None:
    """Raise until the gateway routes: /ping answers as soon as the entry points listen, but the
    routers come from the file provider a moment later, and until then every path is Traefik's
    404. Any other answer means a router matched; whether the service behind it is up is that
    service's own readiness (a `--only` mesh may leave it out)."""
    url = f"http://{LOOPBACK}:{port}{probe_path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status == 404:
        raise ConnectionError(f"the gateway has no route for {url} yet")


def traefik_ready(port: int, ping_port: int, probe_path: str = ROUTING_PROBE_PATH) -> None:
    traefik_ping(ping_port)
    traefik_routing(port, probe_path)


def traefik_launch(
    config_path: Path,
    port: int,
    ping_port: int,
    env: dict[str, str],
    gateway: Path | None = None,
    probe_path: str = ROUTING_PROBE_PATH,
) -> Launch:
    """Traefik on `gateway/` (or another configuration directory of that shape); ready once
    `probe_path`, a path one of its routers matches, is no longer Traefik's own 404."""
    gateway = gateway or gateway_dir()
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(
        render_static_config(gateway / "traefik.yml", port, ping_port, gateway / "dynamic")
    )
    return Launch(
        "traefik",
        [venv_binary("traefik"), f"--configFile={config_path}"],
        ready=lambda: traefik_ready(port, ping_port, probe_path),
        env=env,
    )
