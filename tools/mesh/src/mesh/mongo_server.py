"""A MongoDB-wire server over SQLite (mongoeco), run as `python -m mesh.mongo_server`.

It stops on SIGTERM/SIGINT by closing the proxy and the engine, so the SQLite write-ahead log is
checkpointed and the next start opens a clean file. A log left by a killed process is folded into
the database before the engine opens it, which keeps start-up time independent of how the
previous run ended. Two servers on one file wait on each other's SQLite locks (a restart next to
a forgotten server looks like a hang), so the file is locked and a second server exits at once.
"""

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import sqlite3
from pathlib import Path
from typing import TextIO

from mesh.mongo_batch import BatchingProxyServer
from mesh.mongo_engine import KeyedSQLiteEngine

logger = logging.getLogger("mesh.mongo_server")


def checkpoint(path: Path) -> None:
    """Fold a leftover write-ahead log into the database file."""
    if not path.exists():
        return
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


class FileInUseError(RuntimeError):
    pass


def lock_database(path: Path) -> TextIO:
    """Hold an exclusive lock next to the database for the life of the process."""
    handle = path.with_name(path.name + ".lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise FileInUseError(f"{path} is served by {holder}; stop it first") from error
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


async def serve(host: str, port: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_database(path)
    try:
        await _serve_locked(host, port, path)
    finally:
        lock.close()


async def _serve_locked(host: str, port: int, path: Path) -> None:
    await asyncio.to_thread(checkpoint, path)
    server = BatchingProxyServer(engine=KeyedSQLiteEngine(str(path)), host=host, port=port)
    address = await server.start()
    logger.info("mongoeco wire server on %s:%s, data in %s", address.host, address.port, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("stopping")
    try:
        await server.close()
        await asyncio.to_thread(checkpoint, path)
    except (ExceptionGroup, sqlite3.Error) as error:
        # The engine keeps executing a request whose client has gone; its write holds the
        # SQLite lock past the busy timeout. Every committed write is kept; the next start
        # folds the log in.
        logger.warning(
            "stopped while a write was still running (%s); committed data is kept", error
        )
        raise SystemExit(1) from error
    logger.info("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", type=Path, required=True, help="SQLite database file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(args.host, args.port, args.path))
    except FileInUseError as error:
        logger.error("%s", error)
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
