"""Private MongoDB-wire and S3 servers for tests, started the same way the mesh starts them."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mesh.launch import running
from mesh.mongo import mongo_launch, mongo_url
from mesh.net import free_port
from mesh.seaweed import S3Server, SeaweedPorts, seaweed_launch


@contextmanager
def mongo_server(data_dir: Path) -> Iterator[str]:
    """A mongoeco wire server with its data in `data_dir`; yields its URL."""
    port = free_port()
    with running(mongo_launch(data_dir, port), data_dir / "server.log"):
        yield mongo_url(port)


@contextmanager
def seaweed_server(data_dir: Path) -> Iterator[S3Server]:
    """A SeaweedFS on loopback with a fresh random key pair; unsigned requests get 403."""
    launch, server = seaweed_launch(
        data_dir / "data",
        SeaweedPorts.allocate(),
        access_key=f"test{secrets.token_hex(8)}",
        secret_key=secrets.token_urlsafe(30),
    )
    # Killed, not stopped gracefully: a test's S3 data is thrown away, and SeaweedFS takes over
    # 2 s to shut down (at the end of every xdist worker, with nothing else left to run).
    with running(launch, data_dir / "server.log", stop_timeout=0):
        yield server
