"""Celery signal handlers that record every run in MongoDB.

They run in the process executing the task and write through its long-lived loop. A run history
outage must not fail tasks: a failed write is logged and writes pause for a while instead of
making every task wait on an unreachable server. What could not be written is kept (up to
`BACKLOG_LIMIT` writes) and replayed in order once the store answers, so records are late, not lost.
"""

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any

from celery.exceptions import WorkerLostError
from celery.signals import task_failure, task_postrun, task_prerun
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from common.mongo import init_mongo
from common.redis_client import create_redis
from worker.event_loop import process_loop
from worker.queued_at import queued_at_of
from worker.run_events import announce_run, run_event
from worker.run_history import (
    UNSTORABLE_ERRORS,
    json_safe,
    record_finished,
    record_lost,
    record_started,
)
from worker.runs import TaskRun
from worker.settings import WorkerSettings

logger = logging.getLogger("worker.run_history")
PAUSE_AFTER_FAILURE_SECONDS = 5.0
BACKLOG_LIMIT = 10_000
WRITE_TIMEOUT_SECONDS = 10.0


class RunRecorder:
    def __init__(
        self,
        settings: WorkerSettings,
        worker_id: str | None = None,
        *,
        pause_after_failure: float = PAUSE_AFTER_FAILURE_SECONDS,
    ) -> None:
        self.settings = settings
        # Whose heartbeat tells that the runs it starts are still alive (`worker.lost_runs`).
        self.worker_id = worker_id
        self.pause_after_failure = pause_after_failure
        self._client: AsyncMongoClient[dict[str, object]] | None = None
        self._client_pid: int | None = None
        self._events: Redis | None = None
        self._events_pid: int | None = None
        self._paused_until = 0.0
        self._started: dict[str, float] = {}
        # Writes not done yet, oldest first: kept through an outage and replayed in order once
        # the store answers again, so a run's records are late rather than lost.
        self._backlog: deque[Callable[[], Coroutine[Any, Any, None]]] = deque(maxlen=BACKLOG_LIMIT)
        self._flushing = threading.Lock()
        # The process whose retry thread is running (threads do not survive a fork).
        self._retrying_in: int | None = None

    async def _connected(self) -> None:
        if self._client is None or self._client_pid != os.getpid():
            self._client = await init_mongo(
                self.settings.mongo_url, self.settings.mongo_database, [TaskRun]
            )
            self._client_pid = os.getpid()

    def close(self) -> None:
        """Close the store's client (tests; a worker process keeps it until it exits)."""
        client, self._client = self._client, None
        if client is not None:
            process_loop.run(client.close(), timeout=WRITE_TIMEOUT_SECONDS)
        events, self._events = self._events, None
        if events is not None:
            process_loop.run(events.aclose(), timeout=WRITE_TIMEOUT_SECONDS)

    def _announced(
        self, record: Callable[[], Coroutine[Any, Any, None]], event: dict[str, Any]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """`record`, then the live event saying so (`worker.run_events`)."""

        async def write() -> None:
            await record()
            if self._events is None or self._events_pid != os.getpid():
                self._events = create_redis(self.settings.redis_url)
                self._events_pid = os.getpid()
            await announce_run(self._events, event)

        return write

    async def _flush(self) -> None:
        await self._connected()
        while self._backlog:
            try:
                await self._backlog[0]()
            except UNSTORABLE_ERRORS as exc:
                # This run's data, not the server: drop this record, keep the others coming.
                logger.warning("run history cannot store a run record: %s", type(exc).__name__)
            self._backlog.popleft()

    def _write(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Queue a write and, unless writes are paused after a failure, write what is queued.

        `make` must hold its values already (a `partial`): it may run after an outage."""
        if not self.settings.record_runs:
            return
        self._backlog.append(make)
        self._flush_backlog()

    def _flush_backlog(self, *, retrying: bool = False) -> None:
        # One flush at a time: the threads of a thread pool share the backlog, and two flushes
        # would both write its head and then drop two entries.
        with self._flushing:
            if not retrying and time.monotonic() < self._paused_until:
                return
            try:
                process_loop.run(self._flush(), timeout=WRITE_TIMEOUT_SECONDS)
            except Exception as exc:
                # Pause, so tasks do not each wait on an unreachable server; the backlog stays
                # and is retried after the pause, whether or not another task runs.
                self._paused_until = time.monotonic() + self.pause_after_failure
                logger.warning("run history write failed: %s", type(exc).__name__)
                self._retry_later()

    def _retry_later(self) -> None:
        if self._retrying_in == os.getpid():
            return
        self._retrying_in = os.getpid()
        threading.Thread(target=self._retry, name="run-history-retry", daemon=True).start()

    def _retry(self) -> None:
        try:
            while self._backlog:
                time.sleep(self.pause_after_failure)
                self._flush_backlog(retrying=True)
        finally:
            self._retrying_in = None

    def on_prerun(self, task_id: str, task: Any, args: Any, kwargs: Any, **_: Any) -> None:
        self._started[task_id] = time.perf_counter()
        # Read here: the write runs on the loop's thread, where this task's request is unknown.
        periodic_task_id = _periodic_task_id(task)
        self._write(
            self._announced(
                partial(
                    record_started,
                    task_id,
                    str(task.name),
                    periodic_task_id=periodic_task_id,
                    args=list(args or ()),
                    kwargs=dict(kwargs or {}),
                    started_at=datetime.now(UTC),
                    worker_id=self.worker_id,
                    queued_at=queued_at_of(task.request),
                ),
                run_event(task_id, str(task.name), "STARTED", periodic_task_id=periodic_task_id),
            )
        )

    def on_failure(
        self, task_id: str, exception: BaseException | None = None, **signal: Any
    ) -> None:
        """In the worker's main process: the pool process running the task died. Celery sends
        this only when it will not redeliver the message (an at-most-once task)."""
        if not isinstance(exception, WorkerLostError):
            return  # an ordinary failure, recorded by the task's own process on postrun
        reason = f"worker process lost: {exception}"
        sender = signal.get("sender")
        self._write(
            self._announced(
                partial(record_lost, task_id, reason=reason, finished_at=datetime.now(UTC)),
                # The periodic task is unknown here; the scheduler finds it from the run.
                run_event(
                    task_id,
                    getattr(sender, "name", None),
                    "LOST",
                    periodic_task_id=None,
                    error=reason,
                ),
            )
        )

    def on_postrun(
        self, task_id: str, task: Any, retval: Any = None, state: str | None = None, **_: Any
    ) -> None:
        started = self._started.pop(task_id, None)
        runtime_ms = None if started is None else (time.perf_counter() - started) * 1000
        failed = isinstance(retval, BaseException)
        final = state or ("FAILURE" if failed else "SUCCESS")
        error = f"{type(retval).__name__}: {retval}" if failed else None
        runtime = None if runtime_ms is None else round(runtime_ms, 3)
        self._write(
            self._announced(
                partial(
                    record_finished,
                    task_id,
                    str(task.name),
                    state=final,
                    result=None if failed else retval,
                    error=error,
                    finished_at=datetime.now(UTC),
                    runtime_ms=runtime,
                ),
                run_event(
                    task_id,
                    str(task.name),
                    final,
                    periodic_task_id=_periodic_task_id(task),
                    runtime_ms=runtime,
                    error=error,
                    result=None if failed else json_safe(retval),
                ),
            )
        )


def _periodic_task_id(task: Any) -> str | None:
    periodic_task_id = getattr(task.request, "periodic_task_id", None)
    return str(periodic_task_id) if periodic_task_id else None


def connect_run_recording(settings: WorkerSettings, worker_id: str | None = None) -> RunRecorder:
    recorder = RunRecorder(settings, worker_id)
    task_prerun.connect(recorder.on_prerun, weak=False)
    task_postrun.connect(recorder.on_postrun, weak=False)
    task_failure.connect(recorder.on_failure, weak=False)
    return recorder
