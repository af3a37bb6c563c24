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

from common.mongo import init_mongo
from worker.event_loop import process_loop
from worker.queued_at import queued_at_of
from worker.run_history import UNSTORABLE_ERRORS, record_finished, record_lost, record_started
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
        periodic_task_id = getattr(task.request, "periodic_task_id", None)
        self._write(
            partial(
                record_started,
                task_id,
                str(task.name),
                periodic_task_id=str(periodic_task_id) if periodic_task_id else None,
                args=list(args or ()),
                kwargs=dict(kwargs or {}),
                started_at=datetime.now(UTC),
                worker_id=self.worker_id,
                queued_at=queued_at_of(task.request),
            )
        )

    def on_failure(self, task_id: str, exception: BaseException | None = None, **_: Any) -> None:
        """In the worker's main process: the pool process running the task died. Celery sends
        this only when it will not redeliver the message (an at-most-once task)."""
        if not isinstance(exception, WorkerLostError):
            return  # an ordinary failure, recorded by the task's own process on postrun
        self._write(
            partial(
                record_lost,
                task_id,
                reason=f"worker process lost: {exception}",
                finished_at=datetime.now(UTC),
            )
        )

    def on_postrun(
        self, task_id: str, task: Any, retval: Any = None, state: str | None = None, **_: Any
    ) -> None:
        started = self._started.pop(task_id, None)
        runtime_ms = None if started is None else (time.perf_counter() - started) * 1000
        failed = isinstance(retval, BaseException)
        self._write(
            partial(
                record_finished,
                task_id,
                str(task.name),
                state=state or ("FAILURE" if failed else "SUCCESS"),
                result=None if failed else retval,
                error=f"{type(retval).__name__}: {retval}" if failed else None,
                finished_at=datetime.now(UTC),
                runtime_ms=None if runtime_ms is None else round(runtime_ms, 3),
            )
        )


def connect_run_recording(settings: WorkerSettings, worker_id: str | None = None) -> RunRecorder:
    recorder = RunRecorder(settings, worker_id)
    task_prerun.connect(recorder.on_prerun, weak=False)
    task_postrun.connect(recorder.on_postrun, weak=False)
    task_failure.connect(recorder.on_failure, weak=False)
    return recorder
