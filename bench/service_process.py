"""One of our services under uvicorn in a process of its own, as the mesh runs it: benchmarks
measure its CPU from /proc by its pid."""

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path

from mesh.net import free_port, wait_for_port


@contextmanager
def uvicorn_service(
    factory: str,
    env: Mapping[str, str],
    *,
    log: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[tuple[int, int]]:
    """Serve `factory` (`module:create_app`) on a free loopback port with `env` (the whole
    environment); yields (port, pid) once the port accepts, and stops the process after."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log"]
    # Without a log file the service writes where the benchmark does.
    with log.open("wb") if log is not None else nullcontext(None) as out:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, a module of ours
            command, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, timeout=timeout)
            yield port, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
