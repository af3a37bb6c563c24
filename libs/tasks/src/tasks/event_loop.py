"""One long-lived event loop per process, run in a background thread.

Celery executes tasks in plain threads or processes. Running every coroutine with
`asyncio.run` would create and close a loop per task, which breaks clients that pool
connections bound to a loop (SQLAlchemy engines, Mongo and Redis clients). Instead each process
owns one loop that lives as long as the process, and synchronous code submits coroutines to it.
After a fork (prefork pool) the child starts a loop of its own: the parent's loop thread does not
exist in the child.
"""

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any


class LoopThread:
    """A loop running forever in a daemon thread of the current process."""

    def __init__(self, name: str = "worker-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._start()
            assert self._loop is not None  # noqa: S101 - set by _start
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=serve, name=self._name, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()

    def submit[T](self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule `coro` on the loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run[T](self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (or its exception)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop; await instead")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except BaseException:
            # A time limit or shutdown interrupted the wait: do not leave the coroutine running.
            future.cancel()
            raise

    def stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or self._pid != os.getpid():
                return
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None


process_loop = LoopThread()
