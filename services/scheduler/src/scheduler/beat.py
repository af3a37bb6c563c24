"""`celery -A worker.app beat -S scheduler.beat:DatabaseScheduler`: periodic tasks from SQL.

- Only the holder of the leader lock (`scheduler.beat_lock`) dispatches; others stand by.
- Every write through the API bumps a change marker; beat polls that one row (every
  `SCHEDULER_BEAT_CHANGE_POLL_SECONDS`) and reloads only when it moved.
- Each dispatch is recorded at once in the Redis hash `scheduler:beat:last_run` (so a standby
  that takes over knows what already ran) and written to SQL in batches every
  `SCHEDULER_BEAT_SYNC_SECONDS`.
- Database, Redis and broker errors are logged and retried on the next tick; beat keeps going.

Beat's own loop is synchronous; the database and Redis are reached through the same async
models and clients as the API, on one long-lived loop in a background thread.
"""

import heapq
import json
import logging
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from datetime import datetime
from typing import Any

from celery import Celery
from celery.beat import Scheduler, event_t
from celery.schedules import BaseSchedule
from redis.asyncio import Redis

from common.redis_client import create_redis
from common.settings import load_settings
from common.sql import SqlDatabase
from scheduler.beat_entry import PeriodicTaskEntry
from scheduler.beat_lock import LeaderLock
from scheduler.instants import as_utc
from scheduler.models import PeriodicTask
from scheduler.repository import BeatRepository, RunState
from scheduler.settings import SchedulerSettings
from worker.catalog import read_catalog
from worker.event_loop import LoopThread

logger = logging.getLogger("scheduler.beat")

LAST_RUN_KEY = "scheduler:beat:last_run"
CATALOG_REFRESH_SECONDS = 15.0
# After a failed step beat tries again this soon.
RETRY_SECONDS = 1.0
IO_TIMEOUT_SECONDS = 30.0


class DatabaseScheduler(Scheduler):  # type: ignore[misc]  # celery ships no type hints
    Entry = PeriodicTaskEntry
    _heap: list[Any] | None

    def __init__(self, app: Celery, *args: Any, **kwargs: Any) -> None:
        self.settings = load_settings(SchedulerSettings)
        self._io = LoopThread("beat-io")
        self._database: SqlDatabase | None = None
        self._redis: Redis | None = None
        self._lock: LeaderLock | None = None
        self._entries: dict[str, PeriodicTaskEntry] = {}
        # Tasks sharing a schedule share its (stateless) Celery schedule object.
        self._schedules: dict[str, BaseSchedule] = {}
        # Run state not yet in SQL, and dispatches not yet in the Redis last-run hash.
        self._unsynced: dict[str, RunState] = {}
        self._unpublished: dict[str, RunState] = {}
        self._version: int | None = None
        self._next_change_poll = 0.0
        self._next_catalog_refresh = 0.0
        self._last_sql_sync = time.monotonic()
        # The SQL write-back runs on the IO loop while beat keeps dispatching.
        self._sync_future: Future[None] | None = None
        self._sync_batch: dict[str, RunState] = {}
        # Celery's SIGTERM handler closes the scheduler from inside whatever beat was doing;
        # after that nothing may dispatch, lead or reopen connections.
        self._closed = False
        super().__init__(app, *args, **kwargs)
        self.max_interval = self.settings.beat_max_interval_seconds
        self.sync_every = self.settings.beat_sync_seconds

    # Celery's hooks -------------------------------------------------------------------------

    def setup_schedule(self) -> None:
        settings = self.settings
        self._database = SqlDatabase(settings.database_url, pool_size=2)
        self._redis = create_redis(settings.redis_url)
        self._lock = LeaderLock(self._redis, settings.beat_lock_ttl_seconds)
        logger.info("beat ready; waiting for the leader lock", extra={"token": self._lock.token})

    def get_schedule(self) -> dict[str, PeriodicTaskEntry]:
        return self._entries

    def set_schedule(self, schedule: dict[str, PeriodicTaskEntry]) -> None:
        self._entries = schedule

    schedule = property(get_schedule, set_schedule)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._closed:
            return float(self.max_interval)
        try:
            self._io_run(self._maintain())
        except Exception:
            logger.exception("beat maintenance failed; retrying")
            return RETRY_SECONDS
        if self._lock is None or not self._lock.valid:
            return min(self.max_interval, RETRY_SECONDS)
        return self._dispatch_due()

    def reserve(self, entry: PeriodicTaskEntry) -> PeriodicTaskEntry:
        new_entry: PeriodicTaskEntry = next(entry)
        self._entries[entry.name] = new_entry
        state = RunState(
            task_id=new_entry.task_id,
            last_run_at=as_utc(new_entry.last_run_at),
            total_run_count=new_entry.total_run_count,
            disable=new_entry.one_off,
        )
        self._unsynced[entry.name] = state
        self._unpublished[entry.name] = state
        return new_entry

    def should_sync(self) -> bool:
        return bool(self._unsynced) and time.monotonic() - self._last_sql_sync >= self.sync_every

    def sync(self) -> None:
        """Start writing the run state gathered since the last sync (one write at a time)."""
        if self._closed:
            return
        self._collect_sync()
        if self._sync_future is not None:
            return
        pending, self._unsynced = self._unsynced, {}
        self._last_sql_sync = time.monotonic()
        if pending:
            self._sync_batch = pending
            self._sync_future = self._io.submit(self._write_run_states(list(pending.values())))

    def _collect_sync(self, wait: float = 0.0) -> None:
        future = self._sync_future
        if future is None:
            return
        try:
            future.result(timeout=wait)
        except FutureTimeoutError:
            return
        except Exception:
            logger.exception("could not write run state back; retrying on the next sync")
            for key, state in self._sync_batch.items():
                self._unsynced.setdefault(key, state)
        self._sync_future = None
        self._sync_batch = {}

    def flush(self, timeout: float = IO_TIMEOUT_SECONDS) -> None:
        """Write all gathered run state now and wait for it (shutdown, tests)."""
        self._collect_sync(wait=timeout)
        self.sync()
        self._collect_sync(wait=timeout)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        try:
            super().close()
        finally:
            try:
                self._io_run(self._shutdown())
            except Exception:
                logger.exception("beat shutdown was not clean")
            self._io.stop()

    @property
    def info(self) -> str:
        return f"    . db -> {self.settings.database_url.split('@')[-1]}"

    # Dispatch -------------------------------------------------------------------------------

    def _dispatch_due(self) -> float:
        if self._heap is None:
            self.populate_heap()
        heap = self._heap
        sent = 0
        while heap and not self._closed and self._lock is not None and self._lock.valid:
            when, priority = heap[0][0], heap[0][1]
            entry: PeriodicTaskEntry = heap[0][2]
            now = self._when(entry, 0)
            if when > now:
                break
            heapq.heappop(heap)
            if self._entries.get(entry.name) is not entry:
                continue  # replaced by an edit or removed since it was queued
            try:
                is_due, next_in = self.is_due(entry)
            except Exception:
                is_due, next_in = self._is_due_failed(entry)
            if not is_due:
                heapq.heappush(heap, event_t(self._when(entry, next_in), priority, entry))
                continue
            if self._send(entry):
                sent += 1
                next_entry = self.reserve(entry)
                heapq.heappush(heap, event_t(self._when(next_entry, next_in), priority, next_entry))
            else:
                heapq.heappush(heap, event_t(self._when(entry, RETRY_SECONDS), priority, entry))
        if sent:
            self._publish_last_runs()
        if not heap:
            return float(self.max_interval)
        return float(max(0.0, min(heap[0][0] - self._when(heap[0][2], 0), self.max_interval)))

    def _send(self, entry: PeriodicTaskEntry) -> bool:
        try:
            self.apply_async(entry, producer=self.producer, advance=False)
        except Exception as exc:
            logger.error(
                "could not send %s (%s): %s; retrying",
                entry.task,
                entry.name,
                exc,
                extra={"periodic_task_id": entry.name},
            )
            return False
        logger.info(
            "sent %s", entry.task, extra={"periodic_task_id": entry.name, "task": entry.task}
        )
        return True

    def _publish_last_runs(self) -> None:
        try:
            self._io_run(self._write_last_runs())
        except Exception:
            logger.exception("could not record dispatches in Redis; retrying")

    # Work on the IO loop --------------------------------------------------------------------

    def _io_run[T](self, coro: Coroutine[Any, Any, T]) -> T:
        return self._io.run(coro, timeout=IO_TIMEOUT_SECONDS)

    async def _maintain(self) -> None:
        assert self._lock is not None  # noqa: S101 - set in setup_schedule
        was_leading = self._lock.held
        leading = await self._lock.hold()
        if leading and not was_leading:
            logger.info("this beat leads now", extra={"token": self._lock.token})
            self._version = None
        elif was_leading and not leading:
            logger.warning("leader lock lost; standing by")
            self._heap = None
        if not leading:
            return
        if self._unpublished:
            await self._write_last_runs()
        now = time.monotonic()
        if self._version is None or now >= self._next_change_poll:
            self._next_change_poll = now + self.settings.beat_change_poll_seconds
            await self._reload_if_changed()
        if now >= self._next_catalog_refresh:
            self._next_catalog_refresh = now + CATALOG_REFRESH_SECONDS
            await self._refresh_catalog()

    async def _reload_if_changed(self) -> None:
        assert self._database is not None  # noqa: S101 - set in setup_schedule
        async with self._database.session() as session:
            version = await BeatRepository(session).change_version()
        if version == self._version:
            return
        started = time.perf_counter()
        if self._version is None or self._heap is None:
            await self._load_everything()
            kind = "full"
        else:
            await self._load_changes_since(self._version)
            kind = "changes"
        self._version = version
        logger.info(
            "schedule loaded",
            extra={
                "kind": kind,
                "tasks": len(self._entries),
                "version": version,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    async def _load_everything(self) -> None:
        """Every enabled task, run state merged from SQL and the Redis last-run record."""
        assert self._database is not None  # noqa: S101 - set in setup_schedule
        async with self._database.session() as session:
            repository = BeatRepository(session)
            models = await repository.enabled_tasks()
            all_ids = {str(i) for i in await repository.all_ids()}
        recorded = await self._recorded_last_runs(all_ids)
        entries: dict[str, PeriodicTaskEntry] = {}
        for model in models:
            entry = self._entry(model, recorded.get(str(model.id)))
            if entry is not None:
                entries[entry.name] = entry
        self._entries = entries
        self._heap = None
        self._next_catalog_refresh = 0.0

    async def _load_changes_since(self, seen: int) -> None:
        """Only the rows written after version `seen`; deletions found by the enabled ids."""
        assert self._database is not None  # noqa: S101 - set in setup_schedule
        async with self._database.session() as session:
            repository = BeatRepository(session)
            changed = await repository.changed_since(seen)
            enabled = {str(i) for i in await repository.enabled_ids()}
        for key in [key for key in self._entries if key not in enabled]:
            del self._entries[key]
        fresh = [m for m in changed if str(m.id) in enabled and str(m.id) not in self._entries]
        recorded = await self._recorded_for([str(m.id) for m in fresh])
        for model in changed:
            key = str(model.id)
            if key not in enabled:
                self._entries.pop(key, None)
                continue
            current = self._entries.get(key)
            state = (
                RunState(model.id, as_utc(current.last_run_at), current.total_run_count)
                if current is not None
                else recorded.get(key)
            )
            entry = self._entry(model, state)
            if entry is None:
                self._entries.pop(key, None)
                continue
            entry.registered = current.registered if current is not None else True
            self._entries[key] = entry
            self._push(entry)
        if fresh:
            self._next_catalog_refresh = 0.0

    def _push(self, entry: PeriodicTaskEntry) -> None:
        if self._heap is None:
            return
        try:
            is_due, next_in = entry.is_due()
        except Exception:
            is_due, next_in = self._is_due_failed(entry)
        heapq.heappush(self._heap, event_t(self._when(entry, 0 if is_due else next_in), 5, entry))

    def _entry(self, model: PeriodicTask, recorded: RunState | None) -> PeriodicTaskEntry | None:
        last, count = model.last_run_at, model.total_run_count
        if recorded is not None and (last is None or recorded.last_run_at >= as_utc(last)):
            last, count = recorded.last_run_at, recorded.total_run_count
        try:
            return PeriodicTaskEntry.from_model(
                model,
                self.app,
                last_run_at=last,
                total_run_count=count,
                schedules=self._schedules,
            )
        except Exception:
            logger.exception("periodic task %s cannot be scheduled; skipped", model.id)
            return None

    async def _recorded_for(self, keys: list[str]) -> dict[str, RunState]:
        assert self._redis is not None  # noqa: S101 - set in setup_schedule
        if not keys:
            return {}
        values = await self._redis.hmget(LAST_RUN_KEY, keys)
        return {
            key: state
            for key, value in zip(keys, values, strict=True)
            if value is not None and (state := _run_state(key, str(value))) is not None
        }

    async def _recorded_last_runs(self, existing: set[str]) -> dict[str, RunState]:
        """Dispatches recorded in Redis (by any beat), newer than SQL may know yet."""
        assert self._redis is not None  # noqa: S101 - set in setup_schedule
        raw = {str(k): str(v) for k, v in (await self._redis.hgetall(LAST_RUN_KEY)).items()}
        gone = [key for key in raw if key not in existing]
        if gone:
            await self._redis.hdel(LAST_RUN_KEY, *gone)
        recorded: dict[str, RunState] = {}
        for key, value in raw.items():
            if key in existing and (state := _run_state(key, value)) is not None:
                recorded[key] = state
        return recorded

    async def _refresh_catalog(self) -> None:
        assert self._redis is not None  # noqa: S101 - set in setup_schedule
        catalog = await read_catalog(self._redis)
        changed = False
        for entry in self._entries.values():
            # No live worker at all: send anyway, the broker keeps the messages for them.
            registered = not catalog or entry.task in catalog
            if registered != entry.registered:
                changed = True
                entry.registered = registered
                if not registered:
                    logger.warning(
                        "periodic task %s refers to %s, which no live worker has registered; "
                        "not dispatching it",
                        entry.name,
                        entry.task,
                        extra={"periodic_task_id": entry.name, "task": entry.task},
                    )
        if changed:
            self._heap = None

    async def _write_last_runs(self) -> None:
        assert self._redis is not None  # noqa: S101 - set in setup_schedule
        pending = dict(self._unpublished)
        if not pending:
            return
        mapping = {
            key: json.dumps({"at": s.last_run_at.isoformat(), "count": s.total_run_count})
            for key, s in pending.items()
        }
        await self._redis.hset(LAST_RUN_KEY, mapping=mapping)  # type: ignore[arg-type]
        for key, state in pending.items():
            if self._unpublished.get(key) is state:
                del self._unpublished[key]

    async def _write_run_states(self, states: list[RunState]) -> None:
        assert self._database is not None  # noqa: S101 - set in setup_schedule
        async with self._database.session() as session:
            await BeatRepository(session).write_run_states(states)
        logger.debug("run state written", extra={"tasks": len(states)})

    async def _shutdown(self) -> None:
        try:
            if self._unpublished:
                await self._write_last_runs()
        finally:
            if self._lock is not None:
                await self._lock.release()
            if self._redis is not None:
                await self._redis.aclose()
            if self._database is not None:
                await self._database.dispose()


def _run_state(key: str, value: str) -> RunState | None:
    try:
        data = json.loads(value)
        return RunState(
            task_id=uuid.UUID(key),
            last_run_at=as_utc(datetime.fromisoformat(data["at"])),
            total_run_count=int(data["count"]),
        )
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable last-run record for %s", key)
        return None
