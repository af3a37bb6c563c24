"""Celery signal handlers that record every run in MongoDB.

They run in the process executing the task. A handler only buffers its write (an update by `_id`,
`tasks.run_history.RunWrite`); a thread of the process sends the buffer in one ordered
`bulk_write` at least every `flush_seconds` (1 s), and the buffer is flushed when the process
stops (Celery's `worker_process_shutdown` in a pool process, `worker_shutdown` in the main one).
So a clean stop loses nothing, and a killed process loses at most its last unflushed second.
A flush starts `LINGER_SECONDS` after the first write since the last one, so a burst of runs
is one `bulk_write` and a lone run's record (and its live event) is not held for a second. Under
a stream of runs (writes coming faster than `STREAM_WRITES_PER_SECOND`) flushes start
`MIN_FLUSH_INTERVAL_SECONDS` apart, and a flush writes what was buffered when it began, so each
carries the interval's runs rather than the one or two that finished during the last one
(measured: that made the server's CPU per run 3 times as high, and took a third of the worker's
throughput with history on). A quarter of a second apart, a busy pool process's flush carries
about 70 runs rather than 25 at a tenth: the server's and the recorder's fixed cost per flush
spread over more runs, and fewer runs have their start and end in different flushes (two
writes instead of one, `tasks.run_history.coalesce`); live events under a stream are at most
that much later.

Each write carries the live event announcing it (`tasks.run_events`), published once the write
is stored: a client told of a run finds its record. An event that cannot be published (Redis
down) is logged and dropped; the record is the truth, and a client resyncs from it.

A run history outage must not fail tasks: a failed flush is logged and flushes pause for a while
instead of making every flush wait on an unreachable server. What could not be written stays
buffered (up to `BACKLOG_LIMIT` writes, the oldest dropped beyond that) and is written in order
once the store answers, so records are late, not lost. Every write is an idempotent upsert, so a
batch replayed after a lost reply changes nothing.
"""

import itertools
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import WorkerLostError
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_shutdown,
    worker_shutdown,
)
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError
from redis.asyncio import Redis

from common.mongo import create_mongo_client
from common.redis_client import create_redis
from tasks.event_loop import process_loop
from tasks.queued_at import queued_at_of
from tasks.run_events import announce_runs, run_event
from tasks.run_history import (
    UNSTORABLE_ERRORS,
    RunWrite,
    finished_write,
    json_safe,
    lost_write,
    migrate_run_keys,
    open_run_history,
    started_write,
    write_runs,
)
from tasks.runs import TaskRun
from worker.settings import WorkerSettings

logger = logging.getLogger("worker.run_history")
PAUSE_AFTER_FAILURE_SECONDS = 5.0
BACKLOG_LIMIT = 10_000
WRITE_TIMEOUT_SECONDS = 10.0
MIGRATE_TIMEOUT_SECONDS = 60.0
FLUSH_SECONDS = 1.0
LINGER_SECONDS = 0.02
# Under a steady stream of runs, flushes start at least this far apart (see `flush_delay`).
# Measured ([perf-tasks], bench/run_history.py, 2 cores): history on / off 0.77 at 0.1 s, 0.86-0.88
# at 0.25 s; the embedded server's CPU per run falls from 0.31 ms in flushes of 25 runs to 0.25 ms
# in flushes of 60, the recorder's from 0.10 to 0.075 ms.
MIN_FLUSH_INTERVAL_SECONDS = 0.25
# Below this rate a flush per linger costs little (at most a few % of a core with the server's
# share) and keeps live events prompt; above it, flushes are spaced by the interval.
STREAM_WRITES_PER_SECOND = 100.0
# Writes per bulk_write: MongoDB splits larger batches itself; this bounds one round trip.
BATCH_LIMIT = 500
DUPLICATE_KEY = 11000


class RunRecorder:
    def __init__(
        self,
        settings: WorkerSettings,
        worker_id: str | None = None,
        *,
        pause_after_failure: float = PAUSE_AFTER_FAILURE_SECONDS,
        flush_seconds: float = FLUSH_SECONDS,
        linger_seconds: float | None = LINGER_SECONDS,
        min_flush_interval: float = MIN_FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self.settings = settings
        # How long after the first write since the last flush a flush starts; None: only every
        # `flush_seconds` or at a full batch (tests that flush by hand).
        self.linger_seconds = linger_seconds
        # Whose heartbeat tells that the runs it starts are still alive (`tasks.lost_runs`).
        self.worker_id = worker_id
        self.pause_after_failure = pause_after_failure
        self.flush_seconds = flush_seconds
        self.min_flush_interval = min(min_flush_interval, flush_seconds)
        self._client: AsyncMongoClient[dict[str, object]] | None = None
        self._client_pid: int | None = None
        self._events: Redis | None = None
        self._events_pid: int | None = None
        self._paused_until = 0.0
        self._started: dict[str, float] = {}
        # Old records rekeyed by this process or the parent it was forked from (`migrate`).
        self._migrated = False
        self._new_process_state()
        # A pool process starts with an empty buffer and a flusher of its own (threads and the
        # parent's pending writes do not belong to it).
        os.register_at_fork(after_in_child=self._new_process_state)

    def _new_process_state(self) -> None:
        # Writes not done yet, oldest first, each with its sequence number: kept through an
        # outage and written in order once the store answers.
        self._buffer: deque[tuple[int, RunWrite, dict[str, Any]]] = deque()
        self._sequence = 0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._stopped = False
        self._last_flush = -math.inf
        # When the flush before the last one started, and the sequence number then: the rate
        # of writes is measured from there (`flush_delay`).
        self._rate_since = (-math.inf, 0)
        self._last_flush_sequence = 0

    @property
    def pending(self) -> int:
        """Writes buffered and not written yet."""
        return len(self._buffer)

    async def _connected(self) -> None:
        if self._client is None or self._client_pid != os.getpid():
            self._client = await open_run_history(
                self.settings.mongo_url, self.settings.mongo_database, migrate=not self._migrated
            )
            self._client_pid = os.getpid()
            self._migrated = True

    def migrate(self, **_: Any) -> None:
        """Rekey old records now (`migrate_run_keys`), once for the worker: in its main process
        before the pool starts, so pool processes, which inherit that it is done, do not each
        read the whole collection for it (0.8 s of the embedded server's CPU per process at
        100,000 stored runs). If the store does not answer, each process does it on its first
        flush instead."""
        if not self.settings.record_runs or self._migrated:
            return
        try:
            process_loop.run(self._migrate_once(), timeout=MIGRATE_TIMEOUT_SECONDS)
        except Exception as exc:
            logger.warning("run history records not rekeyed at start: %s", type(exc).__name__)

    async def _migrate_once(self) -> None:
        client = create_mongo_client(self.settings.mongo_url)
        try:
            await migrate_run_keys(client[self.settings.mongo_database][TaskRun.Settings.name])
        finally:
            await client.close()
        self._migrated = True

    def close(self) -> None:
        """Flush what is buffered, stop the flusher and close the store's client (a stopping
        process; tests)."""
        self.shutdown()
        client, self._client = self._client, None
        if client is not None and self._client_pid == os.getpid():
            process_loop.run(client.close(), timeout=WRITE_TIMEOUT_SECONDS)
        events, self._events = self._events, None
        if events is not None and self._events_pid == os.getpid():
            process_loop.run(events.aclose(), timeout=WRITE_TIMEOUT_SECONDS)

    async def _announce(self, events: list[dict[str, Any]]) -> None:
        """Publish the live events of stored writes, in order, in one round trip; never fails a
        flush."""
        if not events:
            return
        if self._events is None or self._events_pid != os.getpid():
            self._events = create_redis(self.settings.redis_url)
            self._events_pid = os.getpid()
        try:
            await announce_runs(self._events, events)
        except Exception as exc:
            logger.warning("run events not published: %s", type(exc).__name__)

    def shutdown(self, **_: Any) -> None:
        """The process stops: write what is buffered now (one try, bounded), stop flushing."""
        self._stopped = True
        self._wake.set()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(timeout=WRITE_TIMEOUT_SECONDS)
        if self._buffer:
            self.flush(force=True)
        if self._buffer:
            logger.warning("run history: %d records not written at shutdown", len(self._buffer))

    def _write(self, write: RunWrite, event: dict[str, Any]) -> None:
        """Buffer a write and its event; the flusher sends it within `flush_seconds`."""
        if not self.settings.record_runs:
            return
        with self._lock:
            if len(self._buffer) >= BACKLOG_LIMIT:
                self._buffer.popleft()
                logger.warning("run history buffer full: the oldest record is dropped")
            self._sequence += 1
            first = not self._buffer
            self._buffer.append((self._sequence, write, event))
            if self._flusher is None and not self._stopped:
                self._flusher = threading.Thread(
                    target=self._flush_forever, name="run-history-flush", daemon=True
                )
                self._flusher.start()
            if (first and self.linger_seconds is not None) or len(self._buffer) >= BATCH_LIMIT:
                self._wake.set()

    def _flush_forever(self) -> None:
        # Writes that came in during a flush: due after the interval, not after a wake.
        leftover = False
        while not self._stopped:
            if not leftover:
                self._wake.wait(max(self.flush_seconds, self._paused_until - time.monotonic()))
                self._wake.clear()
            leftover = False
            if self._stopped or not self._buffer or time.monotonic() < self._paused_until:
                continue
            delay = self.flush_delay(time.monotonic())
            if delay > 0:
                # A full batch or a stop wakes it early.
                self._wake.wait(delay)
                self._wake.clear()
            leftover = self.flush() and bool(self._buffer) and self.linger_seconds is not None

    def flush_delay(self, now: float) -> float:
        """How long the flusher waits, at `now`, before flushing what is buffered: the linger,
        so a burst of runs is one `bulk_write`; under a stream of runs (writes since the flush
        before the last one came faster than `STREAM_WRITES_PER_SECOND`), until
        `min_flush_interval` after the last flush started, so the stream is one `bulk_write` per
        interval: a flush's fixed cost (a round trip each to MongoDB and Redis, a transaction
        on the server), paid every few runs, costs more CPU than the runs themselves. A full
        batch does not wait."""
        buffered = len(self._buffer)
        if buffered >= BATCH_LIMIT:
            return 0.0
        linger = self.linger_seconds or 0.0
        since, sequence = self._rate_since
        if self._sequence - sequence < STREAM_WRITES_PER_SECOND * (now - since):
            return linger
        return max(linger, self._last_flush + self.min_flush_interval - now)

    def flush(self, *, force: bool = False) -> bool:
        """Write what is buffered, in order, one batch (`BATCH_LIMIT` writes) per round trip;
        True when everything was written. Writes buffered meanwhile wait for the next flush
        (unless `force`: a stopping process writes them too), so a flush under a steady
        stream of runs ends. Unless `force`, does nothing while flushes are paused after a
        failure."""
        with self._flushing:
            if not force and time.monotonic() < self._paused_until:
                return False
            with self._lock:
                through = self._sequence
                self._rate_since = (self._last_flush, self._last_flush_sequence)
                self._last_flush, self._last_flush_sequence = time.monotonic(), through
            while self._buffer and (force or self._buffer[0][0] <= through):
                try:
                    process_loop.run(
                        self._flush_batch(None if force else through),
                        timeout=WRITE_TIMEOUT_SECONDS,
                    )
                except Exception as exc:
                    # Pause, so flushes do not each wait on an unreachable server; the buffer
                    # stays and is retried after the pause.
                    self._paused_until = time.monotonic() + self.pause_after_failure
                    logger.warning("run history write failed: %s", type(exc).__name__)
                    return False
            return True

    async def _write_alone(self, write: RunWrite, event: dict[str, Any]) -> None:
        for _ in range(3):
            try:
                await write_runs([write])
                await self._announce([event])
            except UNSTORABLE_ERRORS as exc:
                logger.warning("run history cannot store a run record: %s", type(exc).__name__)
            except BulkWriteError as exc:
                # A duplicate key is two upserts of one new run racing (another process):
                # written again. Anything else is this record's problem: it is dropped.
                codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
                if codes == {DUPLICATE_KEY}:
                    continue
                logger.warning("run history refused a run record: codes %s", sorted(codes))
            return

    def _done_through(self, sequence: int) -> None:
        with self._lock:
            while self._buffer and self._buffer[0][0] <= sequence:
                self._buffer.popleft()

    async def _flush_batch(self, through: int | None) -> None:
        """Write the oldest writes (up to `BATCH_LIMIT`, none after sequence `through`)."""
        await self._connected()
        with self._lock:
            batch = list(itertools.islice(self._buffer, BATCH_LIMIT))
        if through is not None:
            batch = [entry for entry in batch if entry[0] <= through]
        if not batch:
            return
        try:
            await write_runs([write for _, write, _ in batch])
        except (*UNSTORABLE_ERRORS, BulkWriteError):
            # Refused for the data, not an outage: write them one at a time (writes already
            # applied change nothing when applied again), dropping any the store refuses.
            for sequence, write, event in batch:
                await self._write_alone(write, event)
                self._done_through(sequence)
            return
        self._done_through(batch[-1][0])
        await self._announce([event for _, _, event in batch])

    def on_prerun(self, task_id: str, task: Any, args: Any, kwargs: Any, **_: Any) -> None:
        self._started[task_id] = time.perf_counter()
        # Read here: the write runs on the loop's thread, where this task's request is unknown.
        periodic_task_id = _periodic_task_id(task)
        self._write(
            started_write(
                task_id,
                str(task.name),
                periodic_task_id=periodic_task_id,
                args=list(args or ()),
                kwargs=dict(kwargs or {}),
                started_at=datetime.now(UTC),
                start_key=uuid.uuid4().hex,
                worker_id=self.worker_id,
                queued_at=queued_at_of(task.request),
            ),
            run_event(task_id, str(task.name), "STARTED", periodic_task_id=periodic_task_id),
        )

    def on_failure(
        self, task_id: str, exception: BaseException | None = None, **signal: Any
    ) -> None:
        """In the worker's main process: the pool process running the task died. Celery sends
        this only when it will not redeliver the message (an at-most-once task)."""
        if not isinstance(exception, WorkerLostError):
            return  # an ordinary failure, recorded by the task's own process on postrun
        reason = f"worker process lost: {exception}"
        self._write(
            lost_write(task_id, reason=reason, finished_at=datetime.now(UTC)),
            # The periodic task is unknown here; the scheduler finds it from the run.
            run_event(
                task_id,
                getattr(signal.get("sender"), "name", None),
                "LOST",
                periodic_task_id=None,
                error=reason,
            ),
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
            finished_write(
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


def _periodic_task_id(task: Any) -> str | None:
    periodic_task_id = getattr(task.request, "periodic_task_id", None)
    return str(periodic_task_id) if periodic_task_id else None


def connect_run_recording(settings: WorkerSettings, worker_id: str | None = None) -> RunRecorder:
    recorder = RunRecorder(settings, worker_id, flush_seconds=settings.run_history_flush_seconds)
    # One uid per signal: connecting again adds no second handler (no run recorded twice).
    task_prerun.connect(recorder.on_prerun, weak=False, dispatch_uid="run_history.prerun")
    task_postrun.connect(recorder.on_postrun, weak=False, dispatch_uid="run_history.postrun")
    task_failure.connect(recorder.on_failure, weak=False, dispatch_uid="run_history.failure")
    # Flush on a clean stop: in each pool process as it exits, and in the main process.
    worker_process_shutdown.connect(
        recorder.shutdown, weak=False, dispatch_uid="run_history.process_stop"
    )
    worker_shutdown.connect(recorder.shutdown, weak=False, dispatch_uid="run_history.stop")
    # Before the pool forks (`RunRecorder.migrate`).
    worker_init.connect(recorder.migrate, weak=False, dispatch_uid="run_history.migrate")
    return recorder
