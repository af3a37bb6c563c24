"""Run history on the embedded MongoDB-wire server: `uv run python -m bench.run_history`.

Two measurements, on the server `make up` starts (mongoeco over SQLite, `mesh.mongo_server`):

- **Recorded runs/s against stored runs.** The worker's own recorder (`worker.run_signals`)
  records runs (started and finished within one flush, so their start and end are one write,
  `tasks.run_history.coalesce`) in batches of `BATCH_RUNS` runs, one flush (one ordered
  `bulk_write`) per batch, until `STORED_RUNS` runs are stored; the rate of the flushes around
  each checkpoint is reported.
- **Worker throughput with history on and off.** `TASKS` trivial tasks (`demo.add`) are queued
  on a private Valkey, then a real worker (prefork, 2 processes) drains them, once with run
  history off and once with it on (writing into the collection that holds the stored runs), in
  turns, `ROUNDS` times each; the ratio of the medians is reported.
"""

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

from pymongo import MongoClient
from redis import Redis as SyncRedis

from bench.machine import describe
from bench.scale import sized
from tasks.celery_app import process_app
from tasks.runs import TaskRun
from testkit.celery_processes import celery_process, process_env, worker_command
from testkit.embedded import mongo_server
from testkit.valkey import valkey_server
from worker.demo import add
from worker.run_signals import RunRecorder
from worker.settings import WorkerSettings

STORED_RUNS = sized(100_000, 300)
CHECKPOINTS = sized((0, 1_000, 10_000, 50_000, 100_000), (0, 200))
BATCH_RUNS = sized(500, 100)
TASKS = sized(3_000, 50)
ROUNDS = sized(2, 1)
DATABASE = "scheduler"
TASK = SimpleNamespace(name="demo.add", request=SimpleNamespace())


def _record_runs(url: str, redis_url: str) -> list[tuple[int, float]]:
    """(stored runs before the batch, recorded runs/s of its flush), one per batch. A flush
    stores the batch and then announces its live events on the private Valkey, as a worker's."""
    settings = WorkerSettings.model_validate(
        {"mongo_url": url, "mongo_database": DATABASE, "redis_url": redis_url, "log_json": False}
    )
    recorder = RunRecorder(settings, "bench:1", flush_seconds=3600)
    rates: list[tuple[int, float]] = []
    try:
        stored = 0
        while stored < STORED_RUNS:
            for i in range(BATCH_RUNS):
                task_id = str(uuid.uuid4())
                recorder.on_prerun(task_id, TASK, [i, 1], {})
                recorder.on_postrun(task_id, TASK, i + 1, "SUCCESS")
            began = time.perf_counter()
            if not recorder.flush(force=True):
                raise RuntimeError("run history flush failed")
            rates.append((stored, BATCH_RUNS / (time.perf_counter() - began)))
            stored += BATCH_RUNS
    finally:
        recorder.close()
    return rates


def _near(rates: list[tuple[int, float]], checkpoint: int) -> float:
    """The median rate of the (up to) five batches that started nearest the checkpoint."""
    nearest = sorted(rates, key=lambda r: abs(r[0] - checkpoint))[:5]
    return statistics.median(rate for _, rate in nearest)


def _drain(redis_url: str, mongo_url: str, *, record: bool, workdir: Path) -> float:
    """Queue TASKS tasks, start a worker, return tasks/s from 10 % done to the last result and,
    with history on, the last run record written (a history that falls behind shows here)."""
    runs = MongoClient[dict[str, object]](mongo_url)[DATABASE][TaskRun.Settings.name]
    recorded_before = runs.estimated_document_count()
    redis = SyncRedis.from_url(redis_url)
    redis.flushdb()
    process_app().conf.update(broker_url=redis_url, result_backend=redis_url)
    for i in range(TASKS):
        add.delay(i, 1)
    env = process_env(
        redis_url=redis_url,
        mongo_url=mongo_url,
        worker_mongo_database=DATABASE,
        worker_record_runs="true" if record else "false",
        log_level="WARNING",
    )
    command = worker_command(f"bench{uuid.uuid4().hex[:6]}", concurrency=2)
    at = command.index("--pool")
    command[at + 1] = "prefork"
    measured = int(TASKS * 0.9)
    try:
        with celery_process(command, env, workdir / f"worker-{record}.log"):
            deadline = time.monotonic() + 600
            began = done_at = None
            while time.monotonic() < deadline:
                if began is None and int(redis.llen("celery")) <= measured:
                    began = time.perf_counter()
                results = sum(1 for _ in redis.scan_iter(match="celery-task-meta-*", count=1000))
                # Counted only once every result is in: the embedded server counts by reading
                # the collection (8 ms of its CPU at 100,000 runs), and polled throughout it took
                # a share of the 2 cores from the worker with history on only.
                done = results >= TASKS
                if done and record:
                    done = runs.estimated_document_count() - recorded_before >= TASKS
                if done:
                    done_at = time.perf_counter()
                    break
                time.sleep(0.05)
            if began is None or done_at is None:
                raise RuntimeError(f"the worker did not finish {TASKS} tasks; see {workdir}")
    finally:
        redis.close()
        runs.database.client.close()
    return measured / (done_at - began)


def run() -> str:
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        root = Path(tmp)
        with mongo_server(root / "mongo") as mongo_url, valkey_server(root / "valkey") as redis_url:
            rates = _record_runs(mongo_url, redis_url)
            on: list[float] = []
            off: list[float] = []
            with MongoClient[dict[str, object]](mongo_url) as client:
                runs = client[DATABASE][TaskRun.Settings.name]
                before = runs.estimated_document_count()
                for _ in range(ROUNDS):
                    off.append(_drain(redis_url, mongo_url, record=False, workdir=root))
                    on.append(_drain(redis_url, mongo_url, record=True, workdir=root))
                recorded = runs.estimated_document_count() - before
    load_at_end = os.getloadavg()[0]
    rows = [f"| {c:,} | {_near(rates, c):,.0f} |" for c in CHECKPOINTS]
    ratio = statistics.median(on) / statistics.median(off)
    return "\n".join(
        [
            "### Run history on the embedded MongoDB",
            "",
            f"`uv run python -m bench.run_history` on {describe()}, the embedded server `make up`"
            " starts (mongoeco over SQLite, `update` commands of writes by `_id` batched by"
            f" `mesh.mongo_batch`); 1-minute load average {load_at_start:.1f} at the start,"
            f" {load_at_end:.1f} at the end.",
            "",
            "The worker's recorder writing runs (each started and finished within its flush, so"
            f" one write per run) in batches of "
            f"{BATCH_RUNS} runs, one ordered `bulk_write` per flush, until {STORED_RUNS:,} runs "
            "are stored (median of the 5 flushes nearest each point):",
            "",
            "| runs stored | recorded runs/s |",
            "|---|---|",
            *rows,
            "",
            f"A worker (prefork, 2 processes) draining {TASKS:,} queued `demo.add` tasks, history "
            f"off and on in turns ({ROUNDS} rounds each, medians; history on writes into the "
            f"collection holding the {STORED_RUNS:,} runs above):",
            "",
            "| history | tasks/s |",
            "|---|---|",
            f"| off | {statistics.median(off):,.0f} |",
            f"| on | {statistics.median(on):,.0f} |",
            f"| on / off | {ratio:.2f} |",
            "",
            f"Runs recorded by the worker with history on: {recorded:,} of {TASKS * ROUNDS:,}.",
        ]
    )


if __name__ == "__main__":
    print(run())
