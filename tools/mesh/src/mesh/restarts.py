"""Restarting the mesh's processes that die, as compose's `restart: unless-stopped` does.

A process that exits is started again after a backoff that doubles with each exit inside the
window (1 s, 2 s, 4 s ... at most 30 s). One that exits more than `max_restarts` times inside the
window keeps crashing: it is given up on and reported, not restarted forever. Restarts, the last
exit status and a give-up are recorded in the state dir, for `mesh status`.
"""

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mesh.launch import wait_ready
from mesh.process import spawn, stop_group
from mesh.state import RecordedProcess, process_start_time
from mesh.supervisor import Mesh

SUPERVISION_KEY = "supervision"


@dataclass(frozen=True)
class RestartPolicy:
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_restarts: int = 5
    window_seconds: float = 120.0
    poll_seconds: float = 0.5

    def backoff(self, recent_exits: int) -> float:
        doubled: float = self.initial_backoff_seconds * 2.0 ** max(0, recent_exits - 1)
        return min(self.max_backoff_seconds, doubled)


@dataclass
class ProcessHistory:
    restarts: int = 0
    last_exit: int | None = None
    given_up: bool = False
    restart_at: float | None = None
    recent_exits: deque[float] = field(default_factory=deque)

    def as_record(self) -> dict[str, object]:
        return {"restarts": self.restarts, "last_exit": self.last_exit, "given_up": self.given_up}


class Restarter:
    """Watches `mesh.children` and restarts the ones that exit; `check()` does one round."""

    def __init__(
        self,
        mesh: Mesh,
        report: Callable[[str], None],
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mesh = mesh
        self.report = report
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.history = {name: ProcessHistory() for name in mesh.children}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        changed = False
        for name in list(self.mesh.children):
            history = self.history.setdefault(name, ProcessHistory())
            if not history.given_up:
                changed |= self._check_one(name, history)
        if changed:
            self._save()

    def _check_one(self, name: str, history: ProcessHistory) -> bool:
        now = self.clock()
        if history.restart_at is not None:
            if now < history.restart_at:
                return False
            self._restart(name)
            history.restarts += 1
            history.restart_at = None
            return True
        code = self.mesh.children[name].poll()
        if code is None:
            return False
        history.last_exit = code
        history.recent_exits.append(now)
        while history.recent_exits and now - history.recent_exits[0] > self.policy.window_seconds:
            history.recent_exits.popleft()
        exits = len(history.recent_exits)
        if exits > self.policy.max_restarts:
            history.given_up = True
            self.report(
                f"{name} keeps crashing ({exits} exits within {self.policy.window_seconds:.0f}s,"
                f" last status {code}); given up - see {self.mesh.state.log(name)}"
            )
            return True
        delay = self.policy.backoff(exits)
        history.restart_at = now + delay
        self.report(f"{name} exited with status {code}; restarting in {delay:.0f}s")
        return True

    def _restart(self, name: str) -> None:
        launch = self.mesh.launches[name]
        proc = spawn(launch.argv, self.mesh.state.log(name), env=launch.env, cwd=launch.cwd)
        self.mesh.children[name] = proc
        record = RecordedProcess(name, proc.pid, process_start_time(proc.pid))
        self.mesh.processes = [record if p.name == name else p for p in self.mesh.processes]
        self.report(f"{name} restarted (pid {proc.pid})")

    def _save(self) -> None:
        meta = dict(self.mesh.meta)
        meta[SUPERVISION_KEY] = {n: h.as_record() for n, h in self.history.items()}
        self.mesh.meta = meta
        self.mesh.state.record(self.mesh.processes, meta)

    def _run(self) -> None:
        while not self._stop.wait(self.policy.poll_seconds):
            self.check()

    def start(self) -> None:
        """Check in a background thread until `stop()`."""
        self._thread = threading.Thread(target=self._run, name="mesh-restarts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop restarting (before the mesh is stopped, so nothing comes back)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def restart_one(mesh: Mesh, name: str, timeout: float = 120.0) -> None:
    """Stop `name` with SIGTERM (a service drains its requests, bounded by its graceful
    shutdown) and start it again; returns once it is ready. For a mesh no `Restarter` watches
    (it would start the process too)."""
    old = mesh.children[name]
    stop_group(old.pid)
    old.wait()
    launch = mesh.launches[name]
    log = mesh.state.log(name)
    proc = spawn(launch.argv, log, env=launch.env, cwd=launch.cwd)
    mesh.children[name] = proc
    record = RecordedProcess(name, proc.pid, process_start_time(proc.pid))
    mesh.processes = [record if p.name == name else p for p in mesh.processes]
    mesh.state.record(mesh.processes, mesh.meta)
    wait_ready(proc, launch, log, timeout)
