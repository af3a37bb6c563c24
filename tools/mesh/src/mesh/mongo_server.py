"""A MongoDB-wire server over SQLite (mongoeco), run as `python -m mesh.mongo_server`.

It stops on SIGTERM/SIGINT by closing the proxy and the engine, so the SQLite write-ahead log is
checkpointed and the next start opens a clean file. A log left by a killed process is folded into
the database before the engine opens it, which keeps start-up time independent of how the
previous run ended.
"""

import argparse
import asyncio
import logging
import signal
import sqlite3
from pathlib import Path

from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

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


async def serve(host: str, port: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(checkpoint, path)
    server = AsyncMongoEcoProxyServer(engine=SQLiteEngine(str(path)), host=host, port=port)
    address = await server.start()
    logger.info("mongoeco wire server on %s:%s, data in %s", address.host, address.port, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("stopping")
    await server.close()
    await asyncio.to_thread(checkpoint, path)
    logger.info("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", type=Path, required=True, help="SQLite database file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args.host, args.port, args.path))


if __name__ == "__main__":
    main()
