"""The MongoDB-wire server from mongoeco (SQLite-backed), run by `mesh.mongo_server`."""

import sys
from pathlib import Path

from pymongo import MongoClient

from mesh.launch import Launch
from mesh.net import LOOPBACK


def mongo_url(port: int) -> str:
    return f"mongodb://{LOOPBACK}:{port}/?directConnection=true"


def mongo_ping(url: str) -> None:
    """Raise unless a MongoDB-wire server answers `ping` at the URL."""
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000, socketTimeoutMS=5000
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def mongo_launch(data_dir: Path, port: int) -> Launch:
    argv = [
        sys.executable,
        "-m",
        "mesh.mongo_server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--path",
        str(data_dir / "mongo.sqlite3"),
    ]
    return Launch("mongo", argv, ready=lambda: mongo_ping(mongo_url(port)))
