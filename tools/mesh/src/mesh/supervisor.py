"""Start the mesh in dependency order, health-gated; watch it; stop it by process group."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from mesh.environment import EXTERNAL_URLS, MeshEnvironment, build_environment
from mesh.launch import READY_TIMEOUT_SECONDS, Launch, wait_ready
from mesh.net import LOOPBACK, port_is_free
from mesh.process import ProcessDiedError, log_tail, spawn, stop_group
from mesh.seaweed import SeaweedPorts
from mesh.state import RecordedProcess, StateDir, process_start_time
from mesh.topology import (
    PORT_NAMES,
    TOPOLOGY,
    Context,
    Kind,
    ProcessSpec,
    replica_names,
    with_replicas,
)

ONESHOT_TIMEOUT_SECONDS = 120.0
SUPERVISOR_STOP_SECONDS = 60.0

Report = Callable[[str], None]


class MeshError(RuntimeError):
    """The mesh cannot start or stop as asked; the message says why and where to look."""


@dataclass
class Mesh:
    """A started mesh: where it answers, the admin credentials, and the processes it runs."""

    state: StateDir
    url: str
    admin_username: str
    admin_password: str
    admin_password_generated: bool
    environment: MeshEnvironment
    processes: list[RecordedProcess]
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # How each long-running process was started, so `mesh.restarts` can start it again.
    launches: dict[str, Launch] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.state.root

    def service_url(self, name: str) -> str:
        """A service's own loopback URL, bypassing the gateway."""
        return self.environment.service_url(name)


def select(only: Collection[str] | None, external: Collection[str]) -> list[ProcessSpec]:
    """The processes to run: all (or `only`), minus embedded servers replaced by a URL."""
    if only is not None:
        unknown = set(only) - {spec.name for spec in TOPOLOGY}
        if unknown:
            raise MeshError(f"unknown process(es): {', '.join(sorted(unknown))}")
    return [
        spec
        for spec in TOPOLOGY
        if (only is None or spec.name in only) and spec.name not in external
    ]


def by_stage(spec: ProcessSpec) -> int:
    return spec.stage


def _check_modules(specs: Iterable[ProcessSpec]) -> None:
    missing = [
        f"{spec.name} ({spec.module})"
        for spec in specs
        if spec.module and importlib.util.find_spec(spec.module.split(":")[0]) is None
    ]
    if missing:
        raise MeshError(f"not installed in this environment: {', '.join(missing)}")


def start(
    state_dir: Path,
    port: int = 8000,
    *,
    environ: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    timeout: float = READY_TIMEOUT_SECONDS,
    report: Report = print,
    supervisor_pid: int | None = None,
    replicas: Mapping[str, int] | None = None,
) -> Mesh:
    """Start every selected process in order and return once each one is ready.

    On any failure everything started so far is stopped and `MeshError` names the process and
    its log. `supervisor_pid` is recorded so `down` can stop a foreground `up` too. `replicas`
    (from `topology.parse_replicas`) runs several instances of the API services, workers, beats.
    """
    counts = dict(replicas or {})
    instances = replica_names(counts)
    extra_ports = [n for names in instances.values() for n in names[1:]]
    environ = dict(os.environ if environ is None else environ)
    state = StateDir(state_dir)
    state.create()
    with state.locked():
        running = state.running()
        if running:
            names = ", ".join(f"{p.name} (pid {p.pid})" for p in running)
            raise MeshError(f"the mesh in {state.root} is already running: {names}")
        state.forget()
        if not port_is_free(port):
            raise MeshError(f"the gateway port {port} on {LOOPBACK} is already in use")
        ports = state.ports((*PORT_NAMES, *extra_ports))
        s3_ports = SeaweedPorts.from_dict(
            state.port_group(
                "s3",
                lambda: SeaweedPorts.allocate().as_dict(),
                lambda group: SeaweedPorts.from_dict(group).all_free(),
            )
        )
        environment = build_environment(state, ports, s3_ports.s3, environ, instances)
        password, generated = state.admin_password(environ.get("ADMIN_PASSWORD"))
        specs = with_replicas(select(only, environment.external), counts)
        _check_modules(specs)
        for server in sorted(environment.external):
            report(f"{server}: using {EXTERNAL_URLS[server]} from the environment")
        ctx = Context(state, ports, s3_ports, environment.env, port, password)
        mesh = Mesh(
            state=state,
            url=f"http://{LOOPBACK}:{port}",
            admin_username=environment.env["ADMIN_USERNAME"],
            admin_password=password,
            admin_password_generated=generated,
            environment=environment,
            processes=[],
        )
        meta: dict[str, object] = {
            "url": mesh.url,
            "gateway_port": port,
            "supervisor": supervisor_pid,
            "replicas": counts,
        }
        mesh.meta = meta
        try:
            for _, stage in groupby(sorted(specs, key=by_stage), key=by_stage):
                _start_stage_reported(mesh, list(stage), ctx, meta, timeout, report)
        except BaseException:
            report("start-up failed; stopping what was started")
            stop_processes(mesh.processes, mesh.children)
            state.forget()
            raise
        return mesh


def _start_stage_reported(
    mesh: Mesh,
    stage: list[ProcessSpec],
    ctx: Context,
    meta: dict[str, object],
    timeout: float,
    report: Report,
) -> None:
    """One line when the stage starts and one when all of it is ready, with the time it took."""
    names = ", ".join(spec.name for spec in stage)
    report(f"starting {names}")
    began = time.monotonic()
    _start_stage(mesh, stage, ctx, meta, timeout, report)
    report(f"ready in {time.monotonic() - began:.1f} s: {names}")


def _start_stage(
    mesh: Mesh,
    stage: list[ProcessSpec],
    ctx: Context,
    meta: dict[str, object],
    timeout: float,
    report: Report,
) -> None:
    launched: list[tuple[ProcessSpec, Launch, subprocess.Popen[bytes]]] = []
    for spec in stage:
        launch = spec.build(ctx)
        log_path = mesh.state.log(spec.name)
        proc = spawn(launch.argv, log_path, env=launch.env, cwd=launch.cwd)
        mesh.children[spec.name] = proc
        mesh.launches[spec.name] = launch
        mesh.processes.append(RecordedProcess(spec.name, proc.pid, process_start_time(proc.pid)))
        mesh.state.record(mesh.processes, meta)
        launched.append((spec, launch, proc))
    for spec, launch, proc in launched:
        log_path = mesh.state.log(spec.name)
        try:
            if spec.kind is Kind.ONESHOT:
                _wait_oneshot(spec.name, proc, log_path)
            else:
                wait_ready(proc, launch, log_path, timeout)
        except (ProcessDiedError, TimeoutError) as error:
            raise MeshError(str(error)) from error
    finished = {spec.name for spec, _, _ in launched if spec.kind is Kind.ONESHOT}
    mesh.processes = [p for p in mesh.processes if p.name not in finished]
    for name in finished:
        mesh.children.pop(name, None)
        mesh.launches.pop(name, None)
    mesh.state.record(mesh.processes, meta)


def _wait_oneshot(name: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    try:
        returncode = proc.wait(ONESHOT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise TimeoutError(
            f"{name} did not finish within {ONESHOT_TIMEOUT_SECONDS:.0f}s; see {log_path}"
        ) from error
    if returncode != 0:
        raise ProcessDiedError(name, returncode, log_path)


def stop_processes(
    processes: list[RecordedProcess],
    children: Mapping[str, subprocess.Popen[bytes]] | None = None,
) -> None:
    """Stop in reverse start order (gateway first, servers last), each with its children."""
    children = children or {}
    order = list(reversed(processes))
    # One stage at a time would need the table; stopping every long-running process of the
    # same kind together is enough: services first, then embedded servers.
    servers = {spec.name for spec in TOPOLOGY if spec.kind is Kind.SERVER}
    for batch in (
        [p for p in order if p.name not in servers],
        [p for p in order if p.name in servers],
    ):
        alive = [p for p in batch if p.alive()]
        if not alive:
            continue
        with ThreadPoolExecutor(max_workers=len(alive)) as pool:
            list(pool.map(lambda p: stop_group(p.pid), alive))
    for proc in children.values():
        proc.wait()


def stop(state_dir: Path, report: Report = print) -> bool:
    """Stop the mesh recorded in `state_dir`; False when nothing was running."""
    state = StateDir(state_dir)
    processes, meta = state.recorded()
    supervisor = meta.get("supervisor")
    stopped_any = False
    if isinstance(supervisor, int) and supervisor != os.getpid():
        stopped_any = _stop_supervisor(supervisor)
    alive = [p for p in processes if p.alive()]
    if alive:
        report(f"stopping {', '.join(p.name for p in alive)}")
        stop_processes(alive)
        stopped_any = True
    state.forget()
    return stopped_any


def _stop_supervisor(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + SUPERVISOR_STOP_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return True


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    alive: bool
    log: Path
    restarts: int = 0
    last_exit: int | None = None
    given_up: bool = False


def status(state_dir: Path) -> tuple[list[ProcessStatus], dict[str, object]]:
    state = StateDir(state_dir)
    processes, meta = state.recorded()
    # Written by `mesh.restarts` as it restarts processes (absent when nothing was restarted).
    supervision = meta.get("supervision")
    history: dict[str, Any] = supervision if isinstance(supervision, dict) else {}
    return [
        ProcessStatus(
            p.name,
            p.pid,
            p.alive(),
            state.log(p.name),
            restarts=int(history.get(p.name, {}).get("restarts", 0)),
            last_exit=history.get(p.name, {}).get("last_exit"),
            given_up=bool(history.get(p.name, {}).get("given_up", False)),
        )
        for p in processes
    ], meta


def report_death(name: str, log: Path, report: Report) -> None:
    report(f"{name} exited; last lines of {log}:\n{log_tail(log)}")


def print_err(message: str) -> None:
    sys.stderr.write(message + "\n")
