"""The state dir: data, logs, chosen ports, secrets and the pids of a running mesh."""

import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh.net import free_port, port_is_free
from mesh.process import pid_alive

PRIVATE_FILE_MODE = 0o600


class StateLockedError(RuntimeError):
    """Another `mesh` command is starting or stopping this state dir."""


@dataclass(frozen=True)
class RecordedProcess:
    name: str
    pid: int
    started: int  # kernel start time, so a reused pid is never mistaken for ours

    def alive(self) -> bool:
        return pid_alive(self.pid) and process_start_time(self.pid) == self.started


def process_start_time(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[19])


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(PRIVATE_FILE_MODE)


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.logs = self.root / "logs"
        self.data = self.root / "data"
        self.run = self.root / "run"
        self.ports_file = self.root / "ports.json"
        self.secrets_file = self.root / "secrets.json"
        self.pids_file = self.run / "pids.json"
        self.admin_password_file = self.root / "admin-password"

    def create(self) -> None:
        for path in (self.root, self.logs, self.data, self.run):
            path.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state dir's lock; a second holder fails at once instead of racing."""
        self.run.mkdir(parents=True, exist_ok=True)
        with (self.run / "lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise StateLockedError(
                    f"another mesh command holds {self.root}; wait for it to finish"
                ) from error
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ports(self, names: Iterable[str]) -> dict[str, Any]:
        """Ports chosen on the first start and kept; one taken since then is chosen again."""
        stored: dict[str, Any] = self._read_json(self.ports_file) or {}
        changed = False
        taken = {port for port in stored.values() if isinstance(port, int)}
        for name in names:
            port = stored.get(name)
            if port is None or not port_is_free(port):
                port = free_port()
                while port in taken:
                    port = free_port()
                stored[name] = port
                taken.add(port)
                changed = True
        if changed:
            self.ports_file.write_text(json.dumps(stored, indent=2, sort_keys=True))
        return stored

    def port_group(
        self,
        name: str,
        allocate: Callable[[], dict[str, int]],
        usable: Callable[[dict[str, int]], bool],
    ) -> dict[str, int]:
        """Like `ports`, for a server that needs several ports chosen together."""
        stored: dict[str, Any] = self._read_json(self.ports_file) or {}
        group = stored.get(name)
        if not isinstance(group, dict) or not usable(group):
            group = allocate()
            stored[name] = group
            self.ports_file.write_text(json.dumps(stored, indent=2, sort_keys=True))
        return group

    def secret(self, name: str, make: int = 24) -> str:
        """A random secret generated once for this state dir (S3 keys of the embedded server)."""
        stored: dict[str, str] = self._read_json(self.secrets_file) or {}
        if name not in stored:
            stored[name] = secrets.token_urlsafe(make)
            write_private(self.secrets_file, json.dumps(stored, indent=2))
        return stored[name]

    def admin_password(self, configured: str | None) -> tuple[str, bool]:
        """`(password, generated_now)`: the configured one, the stored one, or a new one."""
        if configured:
            return configured, False
        if self.admin_password_file.exists():
            return self.admin_password_file.read_text().strip(), False
        password = secrets.token_urlsafe(18)
        write_private(self.admin_password_file, password + "\n")
        return password, True

    def record(self, processes: list[RecordedProcess], meta: dict[str, Any]) -> None:
        body = {"meta": meta, "processes": [p.__dict__ for p in processes]}
        self.pids_file.write_text(json.dumps(body, indent=2))

    def recorded(self) -> tuple[list[RecordedProcess], dict[str, Any]]:
        body = self._read_json(self.pids_file) or {}
        processes = [RecordedProcess(**p) for p in body.get("processes", [])]
        return processes, body.get("meta", {})

    def forget(self) -> None:
        self.pids_file.unlink(missing_ok=True)

    def running(self) -> list[RecordedProcess]:
        processes, _ = self.recorded()
        return [p for p in processes if p.alive()]

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
