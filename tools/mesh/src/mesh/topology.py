"""The mesh, declared once: every process, in start order, and how to tell it is ready.

Adding a service means adding its lines here (and its router in gateway/dynamic); the CLI,
the supervisor, the e2e fixture and the benchmarks all start the mesh from this table.
"""

import re
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mesh.gateway import traefik_launch
from mesh.launch import Launch, venv_binary
from mesh.mongo import mongo_launch
from mesh.net import LOOPBACK
from mesh.seaweed import SeaweedPorts, seaweed_launch
from mesh.state import StateDir
from mesh.valkey import valkey_launch


class Kind(StrEnum):
    SERVER = "server"  # an embedded database server; skipped when its URL is set
    ONESHOT = "oneshot"  # must exit 0 (migrations, seed)
    SERVICE = "service"  # long-running


@dataclass(frozen=True)
class Context:
    state: StateDir
    ports: Mapping[str, int]
    s3_ports: SeaweedPorts
    env: Mapping[str, str]
    gateway_port: int
    admin_password: str


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    kind: Kind
    stage: int
    build: Callable[[Context], Launch]
    module: str | None = None  # must be importable (the service's code has landed)


# Servers and the gateway need none of the services' settings or secrets.
SYSTEM_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
GATEWAY_VARIABLES = ("AUTH_URL", "RBAC_URL", "STORAGE_URL", "SCHEDULER_URL")


def only_variables(env: Mapping[str, str], names: tuple[str, ...] = ()) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in SYSTEM_VARIABLES or k in names}


def _with_env(launch: Launch, env: Mapping[str, str]) -> Launch:
    return Launch(launch.name, launch.argv, launch.ready, only_variables(env), launch.cwd)


def _valkey(ctx: Context) -> Launch:
    return _with_env(valkey_launch(ctx.state.data / "valkey", ctx.ports["valkey"]), ctx.env)


def _mongo(ctx: Context) -> Launch:
    return _with_env(mongo_launch(ctx.state.data / "mongo", ctx.ports["mongo"]), ctx.env)


def _s3(ctx: Context) -> Launch:
    launch, _ = seaweed_launch(
        ctx.state.data / "s3", ctx.s3_ports, ctx.env["S3_ACCESS_KEY"], ctx.env["S3_SECRET_KEY"]
    )
    return _with_env(launch, ctx.env)


def _python_module(name: str, module: str, **extra_env: str) -> Callable[[Context], Launch]:
    def build(ctx: Context) -> Launch:
        env = {**ctx.env, **extra_env}
        if name == "auth-seed":
            env["ADMIN_PASSWORD"] = ctx.admin_password
        return Launch(name, [sys.executable, "-m", module], env=env, cwd=ctx.state.root)

    return build


def http_ok(url: str) -> None:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
        if response.status != 200:
            raise ConnectionError(f"{url} answered {response.status}")


def _api(name: str) -> Callable[[Context], Launch]:
    def build(ctx: Context) -> Launch:
        port = ctx.ports[name]
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"{name}.app:create_app",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--no-access-log",
            "--proxy-headers",
            "--forwarded-allow-ips",
            LOOPBACK,
        ]
        return Launch(
            name,
            argv,
            ready=lambda: http_ok(f"http://{LOOPBACK}:{port}/health"),
            env=dict(ctx.env),
            cwd=ctx.state.root,
        )

    return build


def log_says(path: Path, pattern: str) -> Callable[[], None]:
    """Ready once the log, from its current end on, matches `pattern` (Celery announces itself
    this way). Logs are appended to across runs: an old run's line must not count."""
    compiled = re.compile(pattern.encode())
    start = path.stat().st_size if path.exists() else 0

    def check() -> None:
        with path.open("rb") as log:
            log.seek(start)
            if not compiled.search(log.read()):
                raise ConnectionError(f"{path.name} does not say {pattern!r} yet")

    return check


def _celery(name: str, *args: str, ready_pattern: str) -> Callable[[Context], Launch]:
    def build(ctx: Context) -> Launch:
        argv = [venv_binary("celery"), "-A", "worker.app", *args, "--loglevel", "INFO"]
        return Launch(
            name,
            argv,
            ready=log_says(ctx.state.log(name), ready_pattern),
            env=dict(ctx.env),
            cwd=ctx.state.root,
        )

    return build


def _traefik(ctx: Context) -> Launch:
    return traefik_launch(
        ctx.state.run / "traefik.yml",
        ctx.gateway_port,
        ctx.ports["traefik-ping"],
        only_variables(ctx.env, GATEWAY_VARIABLES),
    )


TOPOLOGY: tuple[ProcessSpec, ...] = (
    ProcessSpec("valkey", Kind.SERVER, 0, _valkey),
    ProcessSpec("mongo", Kind.SERVER, 0, _mongo),
    ProcessSpec("s3", Kind.SERVER, 0, _s3),
    ProcessSpec(
        "auth-migrations",
        Kind.ONESHOT,
        1,
        _python_module("auth-migrations", "auth.migrations"),
        module="auth.migrations",
    ),
    ProcessSpec(
        "rbac-migrations",
        Kind.ONESHOT,
        1,
        _python_module("rbac-migrations", "rbac.migrations"),
        module="rbac.migrations",
    ),
    ProcessSpec(
        "scheduler-migrations",
        Kind.ONESHOT,
        1,
        _python_module("scheduler-migrations", "scheduler.migrations"),
        module="scheduler.migrations",
    ),
    ProcessSpec(
        "scheduler-seed",
        Kind.ONESHOT,
        2,
        _python_module("scheduler-seed", "scheduler.seed"),
        module="scheduler.seed",
    ),
    ProcessSpec(
        "auth-seed", Kind.ONESHOT, 2, _python_module("auth-seed", "auth.seed"), module="auth.seed"
    ),
    ProcessSpec("auth", Kind.SERVICE, 3, _api("auth"), module="auth.app"),
    ProcessSpec("rbac", Kind.SERVICE, 4, _api("rbac"), module="rbac.app"),
    ProcessSpec("storage", Kind.SERVICE, 4, _api("storage"), module="storage.app"),
    ProcessSpec("scheduler", Kind.SERVICE, 4, _api("scheduler"), module="scheduler.app"),
    ProcessSpec(
        "worker",
        Kind.SERVICE,
        5,
        _celery("worker", "worker", ready_pattern=r"celery@\S+ ready\."),
        module="worker.app",
    ),
    ProcessSpec(
        "beat",
        Kind.SERVICE,
        5,
        _celery(
            "beat",
            "beat",
            "-S",
            "scheduler.beat:DatabaseScheduler",
            ready_pattern=r"beat: Starting",
        ),
        module="scheduler.beat",
    ),
    ProcessSpec("traefik", Kind.SERVICE, 6, _traefik),
)

# Every loopback port the mesh chooses once (S3's group is kept separately).
PORT_NAMES = ("valkey", "mongo", "auth", "rbac", "storage", "scheduler", "traefik-ping")
EMBEDDED_SERVERS = frozenset(spec.name for spec in TOPOLOGY if spec.kind is Kind.SERVER)
