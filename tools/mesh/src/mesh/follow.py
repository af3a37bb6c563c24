"""Foreground `mesh up`: every process's new log lines, prefixed with its name, and deaths reported.

Logs are opened for append, so they hold every earlier run too: the follower starts at their
current end and prints only what is written from then on.
"""

import time
from collections.abc import Callable
from pathlib import Path

from mesh.supervisor import Mesh, report_death

POLL_SECONDS = 0.2


class LogFollower:
    """Prints the lines appended to each log since the last call (at first: since it was made)."""

    def __init__(self, logs: dict[str, Path], write: Callable[[str], None]) -> None:
        self.logs = logs
        self.offsets = {name: _size(path) for name, path in logs.items()}
        self.width = max((len(name) for name in logs), default=0)
        self.write = write

    def poll(self) -> None:
        for name, path in self.logs.items():
            try:
                with path.open("rb") as log:
                    log.seek(self.offsets[name])
                    chunk = log.read()
            except FileNotFoundError:
                continue
            complete = chunk.rfind(b"\n") + 1
            self.offsets[name] += complete
            for line in chunk[:complete].decode(errors="replace").splitlines():
                self.write(f"{name:<{self.width}} | {line}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def follow(mesh: Mesh, write: Callable[[str], None]) -> None:
    """Print logs until interrupted (KeyboardInterrupt); a process that exits is reported once."""
    follower = LogFollower({name: mesh.state.log(name) for name in mesh.children}, write)
    reported: set[str] = set()
    while True:
        follower.poll()
        for name, proc in mesh.children.items():
            if name not in reported and proc.poll() is not None:
                reported.add(name)
                report_death(name, mesh.state.log(name), write)
        time.sleep(POLL_SECONDS)
