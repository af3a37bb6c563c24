"""Child processes in their own process groups, so stopping one stops its children too."""

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

STOP_TIMEOUT_SECONDS = 15.0


class ProcessDiedError(RuntimeError):
    """A supervised process exited; the message carries the tail of its log."""

    def __init__(self, name: str, returncode: int | None, log_path: Path) -> None:
        self.name = name
        self.returncode = returncode
        self.log_path = log_path
        status = "exited" if returncode is None else f"exited with code {returncode}"
        super().__init__(f"{name} {status}; last lines of {log_path}:\n{log_tail(log_path)}")


def spawn(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - argv is built by the mesh, never from input
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def group_alive(pgid: int) -> bool:
    """True while a process of the group runs (zombies awaiting their parent do not count)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(pgid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the process group, wait up to `timeout`, then SIGKILL whatever is left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pgid)
        if not group_alive(pgid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while group_alive(pgid):
        _reap(pgid)
        time.sleep(0.05)


def _reap(pid: int) -> None:
    # Our own children stay zombies (and keep the group "alive") until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        with path.open(errors="replace") as log:
            return "".join(deque(log, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return "(no log written)"
