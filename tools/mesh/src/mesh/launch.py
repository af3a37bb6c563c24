"""Starting a server process and waiting until it answers its own protocol."""

import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mesh.net import poll_until
from mesh.process import STOP_TIMEOUT_SECONDS, ProcessDiedError, spawn, stop_group

READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Launch:
    """How to start one process and how to tell that it serves."""

    name: str
    argv: list[str]
    ready: Callable[[], None] | None = None
    env: dict[str, str] | None = None
    cwd: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)


def venv_binary(name: str) -> str:
    """A console script or bundled binary installed next to this interpreter."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in this environment (run uv sync)")
    return str(path)


def wait_ready(
    proc: subprocess.Popen[bytes],
    launch: Launch,
    log_path: Path,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> None:
    """Block until `launch.ready` passes; raise `ProcessDiedError` if the process exits first."""

    def abort() -> None:
        if proc.poll() is not None:
            raise ProcessDiedError(launch.name, proc.returncode, log_path)

    if launch.ready is None:
        abort()
        return
    try:
        poll_until(launch.ready, timeout, abort=abort)
    except ProcessDiedError:
        raise
    except Exception as error:
        raise TimeoutError(
            f"{launch.name} did not become ready within {timeout:.0f}s ({error}); see {log_path}"
        ) from error


@contextmanager
def running(
    launch: Launch,
    log_path: Path,
    timeout: float = READY_TIMEOUT_SECONDS,
    stop_timeout: float = STOP_TIMEOUT_SECONDS,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `launch` for the duration of the block: ready on entry, its whole group gone on exit
    (SIGTERM, then SIGKILL after `stop_timeout` seconds)."""
    proc = spawn(launch.argv, log_path, env=launch.env, cwd=launch.cwd)
    try:
        wait_ready(proc, launch, log_path, timeout)
        yield proc
    finally:
        stop_group(proc.pid, stop_timeout)
        proc.wait()
