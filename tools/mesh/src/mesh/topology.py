"""The mesh, declared once: every process, in start order, and how to tell it is ready.

Adding a service means adding its lines here (and its router in gateway/dynamic); the CLI,
the supervisor, the e2e fixture and the benchmarks all start the mesh from this table.
"""

import re
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
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
GATEWAY_VARIABLES = (
    *("AUTH_URL", "RBAC_URL", "STORAGE_URL", "SCHEDULER_URL"),
    # Every replica's URL, comma-separated (gateway/dynamic balances over them).
    *("AUTH_URLS", "RBAC_URLS", "STORAGE_URLS", "SCHEDULER_URLS"),
)


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


def _api(name: str, service: str | None = None) -> Callable[[Context], Launch]:
    """An API service's process; `name` is `service` itself or one of its replicas."""
    service = service or name

    def build(ctx: Context) -> Launch:
        port = ctx.ports[name]
        # uvicorn, leaving the gateway's rotation on SIGTERM before it stops (mesh.serve).
        argv = [
            sys.executable,
            "-m",
            "mesh.serve",
            f"{service}.app:create_app",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
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
        if args[0] == "worker" and name != "worker":
            argv += ["--hostname", f"{name}@%h"]  # one node name per worker
        return Launch(
            name,
            argv,
            ready=log_says(ctx.state.log(name), ready_pattern),
            env=dict(ctx.env),
            cwd=ctx.state.root,
        )

    return build


def _traefik(ctx: Context) -> Launch:
    env = only_variables(ctx.env, GATEWAY_VARIABLES)
    authorize_port = None
    if "," in ctx.env.get("RBAC_URLS", ""):
        # forwardAuth takes one URL: with several rbac instances it is the gateway's own
        # balancer over them (mesh.gateway.AUTHORIZE_BALANCER).
        authorize_port = ctx.ports["traefik-authorize"]
        env["RBAC_URL"] = f"http://{LOOPBACK}:{authorize_port}"
    return traefik_launch(
        ctx.state.run / "traefik.yml",
        ctx.gateway_port,
        ctx.ports["traefik-ping"],
        env,
        authorize_port=authorize_port,
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
PORT_NAMES = (
    *("valkey", "mongo", "auth", "rbac", "storage", "scheduler", "traefik-ping"),
    "traefik-authorize",  # used with several rbac instances only
)
EMBEDDED_SERVERS = frozenset(spec.name for spec in TOPOLOGY if spec.kind is Kind.SERVER)

# What `--replicas` may multiply: the API services behind the gateway, workers and beats.
REPLICABLE = ("auth", "rbac", "storage", "scheduler", "worker", "beat")
# `--replicas N` runs N of each API service and of the worker, and two beats (one active, by
# its lock) whenever N > 1.
BEATS_WITH_REPLICAS = 2


def replica_name(name: str, index: int) -> str:
    """The first instance keeps the service's name (`auth`), the others are `auth-2`, ..."""
    return name if index == 1 else f"{name}-{index}"


def replica_spec(spec: ProcessSpec, index: int) -> ProcessSpec:
    """The `index`-th instance (2, 3, ...) of a replicable process."""
    name = replica_name(spec.name, index)
    if spec.name == "worker":
        build = _celery(name, "worker", ready_pattern=rf"{name}@\S+ ready\.")
    elif spec.name == "beat":
        build = _celery(
            name, "beat", "-S", "scheduler.beat:DatabaseScheduler", ready_pattern=r"beat: Starting"
        )
    else:
        build = _api(name, spec.name)
    return ProcessSpec(name, spec.kind, spec.stage, build, spec.module)


def parse_replicas(values: Sequence[str] | None) -> dict[str, int]:
    """`["2"]` -> 2 of each API service and worker, 2 beats; `["auth=3,worker=2"]` -> those."""
    counts: dict[str, int] = {}
    for value in values or []:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, _, count = item.rpartition("=")
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"--replicas {item!r}: the count must be a positive integer")
            if not name:
                for service in REPLICABLE[:-1]:
                    counts[service] = int(count)
                counts["beat"] = BEATS_WITH_REPLICAS if int(count) > 1 else 1
            elif name in REPLICABLE:
                counts[name] = int(count)
            else:
                raise ValueError(
                    f"--replicas {item!r}: one of {', '.join(REPLICABLE)} (or a bare count)"
                )
    return counts


def with_replicas(specs: Sequence[ProcessSpec], counts: Mapping[str, int]) -> list[ProcessSpec]:
    """`specs` with each replicated process followed by its other instances."""
    expanded: list[ProcessSpec] = []
    for spec in specs:
        expanded.append(spec)
        for index in range(2, counts.get(spec.name, 1) + 1):
            expanded.append(replica_spec(spec, index))
    return expanded


def replica_names(counts: Mapping[str, int]) -> dict[str, list[str]]:
    """Every instance's name per API service (the first is the service's own name)."""
    return {
        name: [replica_name(name, i) for i in range(1, counts.get(name, 1) + 1)]
        for name in REPLICABLE[:4]
    }
