"""`mesh up | down | status | logs | token`: the local mesh without Docker."""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TextIO

from mesh.banner import banner
from mesh.follow import POLL_SECONDS, LogFollower, follow
from mesh.process import log_tail, pid_alive
from mesh.restarts import Restarter
from mesh.state import StateDir, StateLockedError
from mesh.supervisor import Mesh, MeshError, start, status, stop, stop_processes
from mesh.token import (
    Credentials,
    TokenError,
    access_token,
    admin_username,
    gateway_url,
    password_for,
)
from mesh.topology import TOPOLOGY, parse_replicas

DEFAULT_STATE_DIR = ".mesh"
# The detached supervisor's own log, next to its processes' logs.
SUPERVISOR_LOG = "supervisor"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def print_banner(mesh: Mesh) -> None:
    generated = mesh.admin_password if mesh.admin_password_generated else None
    for line in banner(mesh.url, mesh.admin_username, mesh.state, generated_password=generated):
        print(line)


def cmd_up(args: argparse.Namespace) -> int:
    only = set(args.only.split(",")) if args.only else None
    try:
        replicas = parse_replicas(args.replicas)
    except ValueError as error:
        print(f"mesh up: {error}", file=sys.stderr)
        return 2
    if args.detach and args.daemon_fd is None:
        return _detach(args)
    # `mesh down` stops a foreground mesh with SIGTERM: treat it like Ctrl-C. SIGINT is set
    # too, since a shell starting us in the background may have left it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    daemon = _DaemonChannel(args.daemon_fd) if args.daemon_fd is not None else None
    say = daemon.say if daemon is not None else print
    try:
        mesh = start(
            args.state_dir,
            args.port,
            only=only,
            timeout=args.timeout,
            report=say,
            supervisor_pid=os.getpid(),
            replicas=replicas,
        )
    except (MeshError, StateLockedError) as error:
        if daemon is not None:
            daemon.say(f"{FAILED_MARK}mesh up failed: {error}")
        else:
            print(f"mesh up failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if daemon is None:
            print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    if daemon is not None:
        # The detached supervisor: the banner goes to the `mesh up` that started us, then it
        # stays behind restarting what dies, until `mesh down` sends SIGTERM.
        generated = mesh.admin_password if mesh.admin_password_generated else None
        for line in banner(mesh.url, mesh.admin_username, mesh.state, generated_password=generated):
            daemon.say(line)
        daemon.ready()
    else:
        print_banner(mesh)
        print("Ctrl-C stops everything; what the processes log from now on follows")
    restarter = Restarter(mesh, print)
    restarter.start()
    try:
        if daemon is None:
            follow(mesh, print)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping the mesh")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        restarter.stop()
        stop_processes(mesh.processes, mesh.children)
        mesh.state.forget()
    print("mesh stopped")
    return 0


READY_MARK = "\x00mesh-ready"
FAILED_MARK = "\x00failed "


class _DaemonChannel:
    """The detached supervisor's line to the `mesh up --detach` waiting for it."""

    def __init__(self, fd: int) -> None:
        self._out: TextIO | None = os.fdopen(fd, "w", buffering=1)

    def say(self, line: str) -> None:
        print(line)  # the supervisor's log
        if self._out is not None:
            try:
                self._out.write(line + "\n")
            except OSError:  # the waiting `mesh up` was interrupted: nobody listens
                self._out = None

    def ready(self) -> None:
        self.say(READY_MARK)
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None


def _detach(args: argparse.Namespace) -> int:
    """Start a supervisor in its own session, relay its progress, return once the mesh is up.

    The supervisor (this CLI again, with `--daemon-fd`) starts the mesh, restarts what dies
    exactly as a foreground `mesh up` does, and is stopped by `mesh down`.
    """
    state = StateDir(Path(args.state_dir))
    state.create()
    read_fd, write_fd = os.pipe()
    argv = [
        sys.executable,
        "-m",
        "mesh.cli",
        "up",
        "--detach",
        "--state-dir",
        str(state.root),
        "--port",
        str(args.port),
        "--timeout",
        str(args.timeout),
        "--daemon-fd",
        str(write_fd),
    ]
    if args.only:
        argv += ["--only", args.only]
    for replicas in args.replicas or []:
        argv += ["--replicas", replicas]
    with state.log(SUPERVISOR_LOG).open("ab") as log:
        daemon = subprocess.Popen(  # noqa: S603 - our own CLI
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    os.close(write_fd)
    ready = False
    failure = ""
    try:
        with os.fdopen(read_fd) as progress:
            for line in progress:
                if line.rstrip("\n") == READY_MARK:
                    ready = True
                    break
                if line.startswith(FAILED_MARK):
                    failure = line.removeprefix(FAILED_MARK)
                    continue
                if failure:  # the rest of a multi-line error (a log tail)
                    failure += line
                    continue
                print(line, end="")
    except KeyboardInterrupt:
        daemon.terminate()
        daemon.wait()
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    if not ready:
        code = daemon.wait()
        print(
            failure.rstrip("\n") or f"mesh up failed; see {state.log(SUPERVISOR_LOG)}",
            file=sys.stderr,
        )
        return code or 1
    print(f"  supervised by pid {daemon.pid}: a process that dies is restarted")
    print(f"  stop it:   uv run mesh down --state-dir {args.state_dir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    if stop(args.state_dir):
        print("mesh stopped")
    else:
        print(f"no mesh is running in {Path(args.state_dir).resolve()}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    processes, meta = status(args.state_dir)
    if not processes:
        print(f"no mesh is running in {Path(args.state_dir).resolve()}")
        return 3
    for line in banner(str(meta.get("url")), admin_username(), StateDir(Path(args.state_dir))):
        print(line)
    supervisor = meta.get("supervisor")
    if isinstance(supervisor, int):
        watching = "running" if pid_alive(supervisor) else "NOT RUNNING (nothing restarts)"
        print(f"  {'supervisor':<12} pid {supervisor:<8} {watching}")
    dead = 0
    for process in processes:
        state = "running" if process.alive else "EXITED"
        if process.given_up:
            state = "GAVE UP (keeps crashing)"
        restarts = f"restarts {process.restarts}"
        if process.last_exit is not None:
            restarts += f", last exit {process.last_exit}"
        print(f"  {process.name:<12} pid {process.pid:<8} {state:<8} {restarts}")
        if not process.alive:
            dead += 1
            print(f"    last lines of {process.log}:")
            for line in log_tail(process.log, 15).splitlines():
                print(f"      {line}")
    return 1 if dead else 0


def cmd_logs(args: argparse.Namespace) -> int:
    state = StateDir(Path(args.state_dir))
    names = [args.name] if args.name else [spec.name for spec in TOPOLOGY]
    if args.follow:
        # It starts at the end of each log: the tail is printed just below, new lines follow.
        follower = LogFollower({name: state.log(name) for name in names}, print)
        code = _print_tails(state, names, args)
        try:
            while True:
                follower.poll()
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            return code
    return _print_tails(state, names, args)


def _print_tails(state: StateDir, names: list[str], args: argparse.Namespace) -> int:
    found = False
    for name in names:
        path = state.log(name)
        if not path.exists():
            continue
        found = True
        if args.name:
            print(log_tail(path, args.lines))
        else:
            print(f"==> {name} ({path}) <==")
            print(log_tail(path, args.lines))
    if not found:
        print(f"no logs for {args.name or 'any process'} in {state.logs}", file=sys.stderr)
        return 1
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    state = StateDir(Path(args.state_dir))
    try:
        credentials = Credentials(
            url=gateway_url(state, args.url),
            username=args.user,
            password=password_for(state, args.user, args.password_file),
        )
        token = access_token(credentials)
    except TokenError as error:
        print(f"mesh token: {error}", file=sys.stderr)
        return 1
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesh", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_state_dir(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--state-dir",
            type=Path,
            default=Path(os.environ.get("MESH_STATE_DIR", DEFAULT_STATE_DIR)),
            help="data, logs, ports and pids (default: .mesh or MESH_STATE_DIR)",
        )
        return sub

    up = with_state_dir(commands.add_parser("up", help="start the mesh"))
    up.add_argument("--port", type=int, default=8000, help="the gateway port (default 8000)")
    up.add_argument(
        "--detach",
        action="store_true",
        help="return once everything is ready, leaving a supervisor behind that restarts what dies",
    )
    up.add_argument(
        "--replicas",
        action="append",
        metavar="N|SERVICE=N[,...]",
        help="instances of each API service (auth, rbac, storage, scheduler) behind the "
        "gateway, or of one (e.g. auth=3; also worker=N); repeatable",
    )
    # The detached supervisor's pipe to the `mesh up --detach` that started it (internal).
    up.add_argument("--daemon-fd", type=int, help=argparse.SUPPRESS)
    up.add_argument("--timeout", type=float, default=60.0, help="seconds per readiness check")
    up.add_argument(
        "--only",
        help="comma-separated process names to run (default: all): "
        + ",".join(spec.name for spec in TOPOLOGY),
    )
    up.set_defaults(run=cmd_up)
    with_state_dir(commands.add_parser("down", help="stop the mesh")).set_defaults(run=cmd_down)
    with_state_dir(commands.add_parser("status", help="what runs")).set_defaults(run=cmd_status)
    logs = with_state_dir(commands.add_parser("logs", help="print logs"))
    logs.add_argument("name", nargs="?", help="one process (default: the tail of each)")
    logs.add_argument("-n", "--lines", type=int, default=200)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.set_defaults(run=cmd_logs)
    token = with_state_dir(
        commands.add_parser("token", help="print an access token (the admin's by default)")
    )
    token.add_argument(
        "--user", default=admin_username(), help="whose token (default: the mesh's admin)"
    )
    token.add_argument(
        "--password-file",
        type=Path,
        help="read the password from this file (default: the admin's from the state dir; "
        "other users are asked)",
    )
    token.add_argument(
        "--url",
        help="the gateway (default: MESH_URL, else the running mesh's, else http://127.0.0.1:8000)",
    )
    token.set_defaults(run=cmd_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
