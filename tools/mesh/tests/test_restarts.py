"""The mesh restarts a process that dies, with backoff, and gives up on one that keeps crashing."""

import contextlib
import io
import os
import signal
import time
from pathlib import Path

from mesh.cli import main
from mesh.launch import Launch
from mesh.net import free_port
from mesh.restarts import Restarter, RestartPolicy
from mesh.supervisor import Mesh, start, status, stop
from mesh.valkey import valkey_ping

FAST = RestartPolicy(initial_backoff_seconds=0.2, max_backoff_seconds=1.0, max_restarts=3)


def _until(condition: "object", restarter: Restarter, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        restarter.check()
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def _mesh_status(state_dir: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["status", "--state-dir", str(state_dir)])
    return out.getvalue()


def _valkey_mesh(state_dir: Path) -> Mesh:
    return start(state_dir, free_port(), only={"valkey"}, report=lambda _m: None)


def test_a_killed_process_is_restarted_and_status_shows_its_restarts_and_last_exit(
    tmp_path: Path,
) -> None:
    mesh = _valkey_mesh(tmp_path)
    reports: list[str] = []
    restarter = Restarter(mesh, reports.append, FAST)
    try:
        first = mesh.children["valkey"].pid
        os.kill(first, signal.SIGKILL)
        _until(lambda: mesh.children["valkey"].pid != first, restarter)
        port = int(mesh.environment.env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        _until(lambda: _answers(port), restarter)

        [valkey] = status(tmp_path)[0]
        assert valkey.pid == mesh.children["valkey"].pid
        assert (valkey.alive, valkey.restarts, valkey.last_exit) == (True, 1, -signal.SIGKILL)
        assert "restarts 1, last exit -9" in _mesh_status(tmp_path)
        assert any("valkey exited with status -9" in r for r in reports)
    finally:
        restarter.stop()
        _down(mesh, tmp_path)

    # `mesh down` stopped the restarted process too.
    assert not _answers(port)


def test_a_process_that_keeps_crashing_is_given_up_on_and_reported(tmp_path: Path) -> None:
    mesh = _valkey_mesh(tmp_path)
    reports: list[str] = []
    restarter = Restarter(mesh, reports.append, FAST)
    try:
        # From now on the process cannot start: every restart exits at once.
        mesh.launches["valkey"] = Launch("valkey", ["false"])
        os.kill(mesh.children["valkey"].pid, signal.SIGKILL)
        _until(lambda: restarter.history["valkey"].given_up, restarter)
        restarts = restarter.history["valkey"].restarts
        time.sleep(FAST.max_backoff_seconds * 2)
        restarter.check()

        assert restarts == FAST.max_restarts
        assert restarter.history["valkey"].restarts == restarts  # no restart after giving up
        assert any("valkey keeps crashing" in r for r in reports)
        [valkey] = status(tmp_path)[0]
        assert valkey.given_up
        assert valkey.last_exit == 1
        assert "GAVE UP" in _mesh_status(tmp_path)
    finally:
        restarter.stop()
        _down(mesh, tmp_path)


def test_the_backoff_doubles_up_to_its_ceiling() -> None:
    policy = RestartPolicy(initial_backoff_seconds=1, max_backoff_seconds=30)
    assert [policy.backoff(n) for n in (1, 2, 3, 5, 6, 9)] == [1, 2, 4, 16, 30, 30]


def _down(mesh: Mesh, state_dir: Path) -> None:
    """`mesh down`: it stops what the state dir records (restarted pids included)."""
    stop(state_dir, report=lambda _m: None)
    for proc in mesh.children.values():
        proc.wait()  # already stopped: only collects the status for this test's Popen objects


def _answers(port: int) -> bool:
    try:
        valkey_ping(port)
    except OSError:
        return False
    return True
