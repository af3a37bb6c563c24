"""`mesh up/down/status/logs` as a user runs them, on the embedded servers and the gateway."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh.net import free_port
from mesh.process import group_alive, pid_alive
from mesh.state import StateDir
from mesh.valkey import valkey_ping

pytestmark = pytest.mark.mesh_cli

SUBSET = "valkey,mongo,traefik"


def mesh_cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "mesh.cli", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def recorded_pids(state_dir: Path) -> dict[str, int]:
    processes, _ = StateDir(state_dir).recorded()
    return {p.name: p.pid for p in processes}


def stored_port(state_dir: Path, name: str) -> int:
    port: int = json.loads(StateDir(state_dir).ports_file.read_text())[name]
    return port


@pytest.fixture
def detached(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A detached subset mesh; always brought down, even when the test fails."""
    port = free_port()
    result = mesh_cli("up", "--detach", "--port", str(port), "--only", SUBSET, state_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    try:
        yield tmp_path, port
    finally:
        mesh_cli("down", state_dir=tmp_path)


def test_detached_up_reports_every_process_ready_and_down_leaves_no_process(
    detached: tuple[Path, int],
) -> None:
    state_dir, port = detached
    pids = recorded_pids(state_dir)
    assert set(pids) == {"valkey", "mongo", "traefik"}
    status = mesh_cli("status", state_dir=state_dir)
    assert status.returncode == 0
    assert f"http://127.0.0.1:{port}" in status.stdout
    assert f"http://127.0.0.1:{port}/docs" in status.stdout  # the banner again

    assert mesh_cli("down", state_dir=state_dir).returncode == 0

    assert not any(group_alive(pid) for pid in pids.values())
    assert mesh_cli("status", state_dir=state_dir).returncode == 3


def test_second_up_on_a_running_state_dir_refuses(detached: tuple[Path, int]) -> None:
    state_dir, _ = detached
    before = recorded_pids(state_dir)
    again = mesh_cli("up", "--detach", "--port", str(free_port()), state_dir=state_dir)
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert recorded_pids(state_dir) == before


def test_status_reports_a_killed_process_with_its_log_tail(detached: tuple[Path, int]) -> None:
    state_dir, _ = detached
    # The supervisor is paused, or it would restart mongo before `status` looks.
    supervisor = StateDir(state_dir).recorded()[1]["supervisor"]
    os.kill(supervisor, signal.SIGSTOP)
    try:
        os.killpg(recorded_pids(state_dir)["mongo"], signal.SIGKILL)
        status = mesh_cli("status", state_dir=state_dir)
    finally:
        os.kill(supervisor, signal.SIGCONT)
    assert status.returncode == 1
    assert "mongo" in status.stdout
    assert "EXITED" in status.stdout
    assert "mongoeco wire server on" in status.stdout  # the tail of its log


def test_logs_prints_one_process_log(detached: tuple[Path, int]) -> None:
    state_dir, _ = detached
    logs = mesh_cli("logs", "traefik", state_dir=state_dir)
    assert logs.returncode == 0
    assert "Traefik version" in logs.stdout
    # Nobody has called the gateway yet: its readiness probes left no access-log line.
    assert "RequestPath" not in logs.stdout


def test_foreground_up_prefixes_logs_reports_a_dying_child_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    argv = ["up", "--port", str(port), "--only", "valkey,mongo", "--state-dir", str(tmp_path)]
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "mesh.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        start_up = list(lines)
        pids = recorded_pids(tmp_path)
        os.killpg(pids["valkey"], signal.SIGKILL)
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("valkey exited"):
                break
        # Calm: stage lines, then the banner last; no start-up log lines.
        assert not any(" | " in line for line in start_up), start_up
        assert any(line.startswith("  API docs:") for line in start_up[-8:]), start_up
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert "valkey exited" in "".join(lines)
    assert "mesh stopped" in rest
    assert not any(group_alive(pid) for pid in pids.values())


def _redis_command(port: int, *words: str) -> bytes:
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload.encode())
        return sock.recv(1024)


def test_data_survives_down_and_up(tmp_path: Path) -> None:
    port = free_port()
    up = mesh_cli("up", "--detach", "--port", str(port), "--only", "valkey", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    valkey_port = stored_port(tmp_path, "valkey")
    try:
        assert _redis_command(valkey_port, "SET", "mesh:kept", "yes") == b"+OK\r\n"
        assert mesh_cli("down", state_dir=tmp_path).returncode == 0
        up = mesh_cli("up", "--detach", "--port", str(port), "--only", "valkey", state_dir=tmp_path)
        assert up.returncode == 0, up.stderr
        assert stored_port(tmp_path, "valkey") == valkey_port
        valkey_ping(valkey_port)
        assert _redis_command(valkey_port, "GET", "mesh:kept") == b"$3\r\nyes\r\n"
    finally:
        mesh_cli("down", state_dir=tmp_path)


def test_up_refuses_a_gateway_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = mesh_cli(
            "up", "--detach", "--port", str(port), "--only", "valkey", state_dir=tmp_path
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert recorded_pids(tmp_path) == {}


def test_a_detached_mesh_is_supervised_and_down_stops_the_supervisor_too(tmp_path: Path) -> None:
    port = free_port()
    up = mesh_cli("up", "--detach", "--port", str(port), "--only", "valkey", state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "supervised by pid" in up.stdout
    assert f"http://127.0.0.1:{port}" in up.stdout  # the banner, relayed from the supervisor
    _, meta = StateDir(tmp_path).recorded()
    supervisor = meta["supervisor"]
    assert isinstance(supervisor, int)
    try:
        first = recorded_pids(tmp_path)["valkey"]
        os.killpg(first, signal.SIGKILL)
        # `mesh up` returned long ago; the supervisor it left behind restarts valkey.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid = recorded_pids(tmp_path).get("valkey", first)
            if pid != first and _answers(stored_port(tmp_path, "valkey")):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the detached mesh did not restart valkey")
        status = mesh_cli("status", state_dir=tmp_path)
        assert status.returncode == 0, status.stdout
        assert f"supervisor   pid {supervisor}" in status.stdout
        assert "restarts 1, last exit -9" in status.stdout
        assert "valkey exited with status -9" in (tmp_path / "logs" / "supervisor.log").read_text()
    finally:
        assert mesh_cli("down", state_dir=tmp_path).returncode == 0
    assert not group_alive(pid)
    assert not pid_alive(supervisor)
    assert mesh_cli("status", state_dir=tmp_path).returncode == 3


def test_a_detached_up_that_fails_reports_why_and_leaves_nothing_running(tmp_path: Path) -> None:
    failed = mesh_cli("up", "--detach", "--only", "nosuchprocess", state_dir=tmp_path)
    assert failed.returncode == 1
    assert "unknown process(es): nosuchprocess" in failed.stderr
    assert mesh_cli("status", state_dir=tmp_path).returncode == 3


def _answers(port: int) -> bool:
    try:
        valkey_ping(port)
    except OSError:
        return False
    return True
