"""A private Valkey server for tests that may stop or flush it, started as the mesh starts one."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mesh.launch import running
from mesh.net import free_port
from mesh.valkey import valkey_launch, valkey_url


@contextmanager
def valkey_server(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """Run valkey-server on 127.0.0.1 without persistence and yield its URL."""
    port = port or free_port()
    with running(valkey_launch(data_dir, port, persist=False), data_dir / "valkey.log"):
        yield valkey_url(port)
