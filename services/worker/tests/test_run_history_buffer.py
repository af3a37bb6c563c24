"""Run records are buffered and written in ordered batches: flushed by a thread of their own and
at shutdown, in order, each start counted once, records of the old shape rekeyed."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from common.mongo import create_mongo_client
from tasks.event_loop import process_loop
from tasks.run_events import run_event
from tasks.run_history import (
    RunWrite,
    coalesce,
    finished_write,
    lost_write,
    migrate_run_keys,
    open_run_history,
    started_write,
    write_runs,
)
from tasks.runs import LEGACY_TASK_ID_INDEX, TASK_ID_INDEX, TaskRun
from worker.run_signals import BATCH_LIMIT, STREAM_WRITES_PER_SECOND, RunRecorder
from worker.settings import WorkerSettings

NEVER = 3600.0


def _task(name: str = "demo.add") -> SimpleNamespace:
    """What the signal handlers read of a Celery task: its name and its request."""
    return SimpleNamespace(name=name, request=SimpleNamespace())


@pytest.fixture
def settings(mongo_url: str) -> WorkerSettings:
    database = f"run_buffer_{uuid.uuid4().hex[:8]}"
    return WorkerSettings.model_validate(
        {"mongo_url": mongo_url, "mongo_database": database, "log_json": False}
    )


@pytest.fixture
async def runs(settings: WorkerSettings) -> AsyncIterator[AsyncCollection[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = create_mongo_client(settings.mongo_url)
    yield client[settings.mongo_database][TaskRun.Settings.name]
    await client.close()


@pytest.fixture
def recorder(settings: WorkerSettings) -> Iterator[RunRecorder]:
    """A recorder whose flusher never flushes by itself: only `flush()` and `close()` write."""
    recorder = RunRecorder(settings, "host:1", flush_seconds=NEVER, linger_seconds=None)
    yield recorder
    recorder.close()


async def _record(runs: AsyncCollection[dict[str, object]], task_id: str) -> dict[str, Any]:
    record = await runs.find_one({"_id": task_id})
    assert record is not None, task_id
    return record


async def test_records_wait_in_the_buffer_and_one_flush_writes_them_keyed_by_task_id(
    recorder: RunRecorder, runs: AsyncCollection[dict[str, object]]
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(20)]
    for task_id in ids:
        await asyncio.to_thread(recorder.on_prerun, task_id, _task(), [1, 2], {})
        await asyncio.to_thread(recorder.on_postrun, task_id, _task(), 3, "SUCCESS")

    assert recorder.pending == 40
    assert await runs.count_documents({}) == 0
    assert await asyncio.to_thread(recorder.flush)

    assert recorder.pending == 0
    assert await runs.count_documents({}) == 20
    record = await _record(runs, ids[7])
    assert (record["task_id"], record["state"], record["result"]) == (ids[7], "SUCCESS", 3)


async def test_the_flusher_writes_the_buffer_by_itself(
    settings: WorkerSettings, runs: AsyncCollection[dict[str, object]]
) -> None:
    recorder = RunRecorder(settings, "host:1", flush_seconds=0.2)
    task_id = str(uuid.uuid4())
    try:
        await asyncio.to_thread(recorder.on_prerun, task_id, _task(), [], {})
        await asyncio.to_thread(recorder.on_postrun, task_id, _task(), 1, "SUCCESS")
        for _ in range(300):
            record = await runs.find_one({"_id": task_id})
            if record is not None and record["state"] == "SUCCESS":
                break
            await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(recorder.close)
    assert record is not None
    assert record["state"] == "SUCCESS"
    assert recorder.pending == 0


class RunsStartDuringFlushes(RunRecorder):
    """Starts a run while each flush announces its runs, as a pool process's task thread does
    while its flusher writes (`starting` of them in all)."""

    starting = 3

    async def _announce(self, events: list[dict[str, Any]]) -> None:
        await super()._announce(events)
        if self.starting:
            self.starting -= 1
            self.on_prerun(str(uuid.uuid4()), _task(), [], {})


async def test_a_flush_writes_what_was_buffered_when_it_began_and_later_runs_wait_for_the_next(
    settings: WorkerSettings, runs: AsyncCollection[dict[str, object]]
) -> None:
    recorder = RunsStartDuringFlushes(settings, "host:1", flush_seconds=NEVER, linger_seconds=None)
    first = str(uuid.uuid4())
    try:
        await asyncio.to_thread(recorder.on_prerun, first, _task(), [], {})

        # Under a steady stream of runs a flush ends: it does not chase the runs started
        # while it writes (each flush would then carry one or two runs).
        assert await asyncio.to_thread(recorder.flush)
        assert recorder.pending == 1
        assert (await _record(runs, first))["state"] == "STARTED"
        assert await asyncio.to_thread(recorder.flush)
        assert recorder.pending == 1
    finally:
        # Stopping writes everything, including what starts during that last flush.
        await asyncio.to_thread(recorder.close)
    assert recorder.pending == 0
    assert await runs.count_documents({"state": "STARTED"}) == 4


def test_a_lone_run_waits_the_linger_and_a_stream_of_runs_one_flush_per_interval(
    settings: WorkerSettings,
) -> None:
    # No linger: its flusher never flushes by itself, so only these flushes count.
    recorder = RunRecorder(
        settings, "host:1", flush_seconds=NEVER, linger_seconds=None, min_flush_interval=0.5
    )

    def start_runs(count: int) -> None:
        for _ in range(count):
            recorder.on_prerun(str(uuid.uuid4()), _task(), [], {})

    try:
        start_runs(1)
        assert recorder.flush_delay(time.monotonic()) == 0.0  # nothing flushed yet
        before = time.monotonic()
        recorder.flush()
        recorder.flush()
        after = time.monotonic()

        # A run half a second after two flushes: not a stream, it waits only the linger.
        start_runs(1)
        assert recorder.flush_delay(after + 0.5) == 0.0
        # 101 more writes within that half second are a stream: the next flush waits for the
        # interval since the last one.
        start_runs(100)
        assert STREAM_WRITES_PER_SECOND * 0.5 < 101
        assert 0.0 < recorder.flush_delay(after) <= 0.5 <= recorder.flush_delay(before)
        # A full batch is written at once.
        start_runs(BATCH_LIMIT)
        assert recorder.flush_delay(before) == 0.0
    finally:
        recorder.close()


def test_under_a_stream_of_runs_flushes_start_a_quarter_second_apart(
    settings: WorkerSettings,
) -> None:
    # The default spacing: a busy pool process's flush carries a quarter second of runs (the
    # fixed cost of a flush spread over them, most runs started and finished in one flush),
    # well within the second a record may wait.
    recorder = RunRecorder(settings, "host:1", flush_seconds=NEVER, linger_seconds=None)
    try:
        recorder.on_prerun(str(uuid.uuid4()), _task(), [], {})
        recorder.flush()
        recorder.flush()
        after = time.monotonic()
        for _ in range(300):
            recorder.on_prerun(str(uuid.uuid4()), _task(), [], {})

        # (more than the old 0.1 s; less than 0.25 s by the time the flush took to return)
        assert 0.1 < recorder.flush_delay(after) <= 0.25
        assert recorder.flush_delay(after + 0.25) == 0.0
    finally:
        recorder.close()


async def test_stopping_writes_every_buffered_record(
    settings: WorkerSettings, runs: AsyncCollection[dict[str, object]]
) -> None:
    recorder = RunRecorder(settings, "host:1", flush_seconds=NEVER)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    for task_id in ids:
        await asyncio.to_thread(recorder.on_prerun, task_id, _task(), [], {})
        await asyncio.to_thread(recorder.on_postrun, task_id, _task(), None, "SUCCESS")

    await asyncio.to_thread(recorder.shutdown)

    assert recorder.pending == 0
    assert await runs.count_documents({"state": "SUCCESS"}) == 50
    await asyncio.to_thread(recorder.close)


async def test_a_runs_records_apply_in_the_order_they_happened_within_one_batch(
    recorder: RunRecorder, runs: AsyncCollection[dict[str, object]]
) -> None:
    finished, redelivered = str(uuid.uuid4()), str(uuid.uuid4())
    task = _task()
    await asyncio.to_thread(recorder.on_prerun, finished, task, [], {})
    await asyncio.to_thread(recorder.on_postrun, finished, task, 5, "SUCCESS")
    # Started, lost (its pool process died), started again elsewhere: the last start wins.
    await asyncio.to_thread(recorder.on_prerun, redelivered, task, [], {})
    recorder._write(
        lost_write(redelivered, reason="x", finished_at=datetime.now(UTC)),
        run_event(redelivered, None, "LOST", periodic_task_id=None, error="x"),
    )
    await asyncio.to_thread(recorder.on_prerun, redelivered, task, [], {})

    assert await asyncio.to_thread(recorder.flush)

    done = await _record(runs, finished)
    assert (done["state"], done["result"]) == ("SUCCESS", 5)
    assert done["finished_at"] >= done["started_at"]
    again = await _record(runs, redelivered)
    assert (again["state"], again["error"], again["finished_at"]) == ("STARTED", None, None)
    assert len(again["starts"]) == 2


async def test_the_same_start_written_twice_counts_once_and_two_starts_count_twice(
    settings: WorkerSettings, runs: AsyncCollection[dict[str, object]]
) -> None:
    client = await open_run_history(settings.mongo_url, settings.mongo_database)
    task_id = str(uuid.uuid4())

    def start(key: str) -> RunWrite:
        return started_write(
            task_id,
            "demo.add",
            periodic_task_id=None,
            args=[],
            kwargs={},
            started_at=datetime.now(UTC),
            start_key=key,
            worker_id="host:1",
        )

    try:
        # A batch whose reply was lost is sent again: its start must not count twice.
        await write_runs([start("first")])
        await write_runs([start("first")])
        once = TaskRun.model_validate(await _record(runs, task_id))
        # Redelivered (or retried): a new start of the same run.
        await write_runs([start("second")])
        twice = TaskRun.model_validate(await _record(runs, task_id))
    finally:
        await client.close()
    assert once.attempts == 1
    assert twice.attempts == 2
    assert await runs.count_documents({"task_id": task_id}) == 1


async def test_a_batch_replayed_after_a_lost_reply_leaves_the_same_records(
    recorder: RunRecorder, runs: AsyncCollection[dict[str, object]]
) -> None:
    task_id = str(uuid.uuid4())
    await asyncio.to_thread(recorder.on_prerun, task_id, _task(), [], {})
    await asyncio.to_thread(recorder.on_postrun, task_id, _task(), 2, "SUCCESS")
    batch = [write for _, write, _ in recorder._buffer]
    assert await asyncio.to_thread(recorder.flush)
    first = await _record(runs, task_id)

    process_loop.run(write_runs(batch), timeout=10)

    assert await _record(runs, task_id) == first
    assert TaskRun.model_validate(first).attempts == 1


async def test_records_of_the_old_shape_are_rekeyed_and_the_unique_index_dropped(
    settings: WorkerSettings, runs: AsyncCollection[dict[str, object]]
) -> None:
    await runs.create_indexes([IndexModel([("task_id", ASCENDING)], unique=True)])
    old, continued = str(uuid.uuid4()), str(uuid.uuid4())
    old_key = ObjectId()
    await runs.insert_many(
        [
            {"_id": old_key, "task_id": old, "task": "demo.add", "state": "SUCCESS", "attempts": 2},
            {"_id": ObjectId(), "task_id": continued, "task": "demo.add", "state": "PENDING"},
        ]
    )

    client = await open_run_history(settings.mongo_url, settings.mongo_database)
    try:
        rekeyed = TaskRun.model_validate(await _record(runs, old))
        # A process of the old version recorded the run again, and a new one went on with it:
        # the record under the new key is the newer one and is kept.
        await runs.update_one({"_id": continued}, {"$set": {"state": "SUCCESS"}})
        stale = ObjectId()
        await runs.insert_one(
            {"_id": stale, "task_id": continued, "task": "demo.add", "state": "PENDING"}
        )
        assert await migrate_run_keys(runs) == 0
    finally:
        await client.close()

    assert await runs.count_documents({}) == 2
    assert await runs.find_one({"_id": old_key}) is None
    assert await runs.find_one({"_id": stale}) is None
    assert (rekeyed.state, rekeyed.attempts) == ("SUCCESS", 2)
    assert (await _record(runs, continued))["state"] == "SUCCESS"
    indexes = {i["name"]: i for i in await (await runs.list_indexes()).to_list()}
    assert LEGACY_TASK_ID_INDEX not in indexes
    assert not indexes[TASK_ID_INDEX].get("unique")


def test_a_run_started_and_finished_in_one_batch_is_one_write_and_other_orders_are_kept() -> None:
    now = datetime.now(UTC)

    def started(run: str, key: str) -> RunWrite:
        return started_write(
            run, "demo.add", periodic_task_id=None, args=[], kwargs={}, started_at=now,
            start_key=key,
        )  # fmt: skip

    def finished(run: str) -> RunWrite:
        return finished_write(
            run, "demo.add", state="SUCCESS", result=1, error=None, finished_at=now, runtime_ms=1
        )

    merged = coalesce(
        [
            started("a", "1"),
            started("b", "1"),
            finished("a"),
            finished("b"),
            finished("c"),  # its start went in an earlier batch
            started("d", "1"),
            lost_write("d", reason="x", finished_at=now),
            started("d", "2"),
            finished("d"),
        ]
    )

    assert [(w.run_id, w.kind) for w in merged] == [
        ("a", "started+finished"),
        ("b", "started+finished"),
        ("c", "finished"),
        ("d", "started"),
        ("d", ""),
        ("d", "started+finished"),
    ]
    update = merged[0].update
    assert update["$set"]["state"] == "SUCCESS"
    assert update["$set"]["finished_at"] == now
    assert update["$addToSet"] == {"starts": "1"}
    assert update["$setOnInsert"] == {"task_id": "a"}


async def test_a_worker_rekeys_old_records_once_before_its_pool_and_its_processes_do_not_again(
    settings: WorkerSettings, runs: AsyncCollection[dict[str, object]]
) -> None:
    old, later = str(uuid.uuid4()), str(uuid.uuid4())
    await runs.insert_one({"_id": ObjectId(), "task_id": old, "task": "demo.add"})
    worker = RunRecorder(settings, "host:1", flush_seconds=NEVER, linger_seconds=None)
    try:
        # The worker's main process, at `worker_init`.
        await asyncio.to_thread(worker.migrate)
        assert (await _record(runs, old))["task_id"] == old
        # A record of the old shape written after that (by a process of the old version) is
        # not looked for again by this worker's flushes: each would read the whole collection.
        await runs.insert_one({"_id": ObjectId(), "task_id": later, "task": "demo.add"})
        await asyncio.to_thread(worker.on_prerun, str(uuid.uuid4()), _task(), [], {})
        assert await asyncio.to_thread(worker.flush)
        assert await runs.find_one({"_id": later}) is None
    finally:
        await asyncio.to_thread(worker.close)

    # A process that did not rekey at start (its store did not answer then) does it when it
    # first writes.
    fresh = RunRecorder(settings, "host:2", flush_seconds=NEVER, linger_seconds=None)
    try:
        await asyncio.to_thread(fresh.on_prerun, str(uuid.uuid4()), _task(), [], {})
        assert await asyncio.to_thread(fresh.flush)
    finally:
        await asyncio.to_thread(fresh.close)
    assert (await _record(runs, later))["task_id"] == later
