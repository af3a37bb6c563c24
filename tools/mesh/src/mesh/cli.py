"""`mesh up | down | status | logs`: the local mesh without Docker."""

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from mesh.follow import POLL_SECONDS, LogFollower, follow
from mesh.process import log_tail
from mesh.restarts import Restarter
from mesh.state import StateDir, StateLockedError
from mesh.supervisor import Mesh, MeshError, start, status, stop, stop_processes
from mesh.topology import TOPOLOGY

DEFAULT_STATE_DIR = ".mesh"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def print_summary(mesh: Mesh) -> None:
    print(f"mesh is up: {mesh.url}  (API docs: {mesh.url}/docs)")
    if mesh.admin_password_generated:
        print(
            f"admin user {mesh.admin_username!r}, generated password (shown once): "
            f"{mesh.admin_password}"
        )
        print(f"  it is also in {mesh.state.admin_password_file} (mode 0600)")
    elif mesh.state.admin_password_file.exists():
        print(f"admin user {mesh.admin_username!r}; password in {mesh.state.admin_password_file}")
    else:
        print(f"admin user {mesh.admin_username!r}; password from ADMIN_PASSWORD")
    print(f"state and logs: {mesh.state.root}")


def cmd_up(args: argparse.Namespace) -> int:
    only = set(args.only.split(",")) if args.only else None
    # `mesh down` stops a foreground mesh with SIGTERM: treat it like Ctrl-C. SIGINT is set
    # too, since a shell starting us in the background may have left it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        mesh = start(
            args.state_dir,
            args.port,
            only=only,
            timeout=args.timeout,
            supervisor_pid=None if args.detach else os.getpid(),
        )
    except (MeshError, StateLockedError) as error:
        print(f"mesh up failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    print_summary(mesh)
    if args.detach:
        print(f"stop it with: mesh down --state-dir {args.state_dir}")
        return 0
    print("Ctrl-C stops everything")
    restarter = Restarter(mesh, print)
    restarter.start()
    try:
        follow(mesh, print)
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
    print(f"gateway: {meta.get('url')}")
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
        follower = LogFollower({name: state.log(name) for name in names}, print)
        # Start at the end: the tail was just printed, new lines follow.
        follower.offsets = {name: _size(state.log(name)) for name in names}
        code = _print_tails(state, names, args)
        try:
            while True:
                follower.poll()
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            return code
    return _print_tails(state, names, args)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


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
    up.add_argument("--detach", action="store_true", help="return once everything is ready")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
