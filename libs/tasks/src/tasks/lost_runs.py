"""Ending the runs of a worker that died: `STARTED` must not be a state a run can stay in.

A worker whose pool process dies while the worker lives ends the run itself (`run_signals`).
When the whole worker dies nothing of it is left to do so; its heartbeat (the task catalog's
TTL) stops, and the sweeper ends its started runs as `LOST` once the worker has been missing for
a grace period longer than a heartbeat interval, so a Redis restart that briefly loses every
heartbeat ends no run. A run of an at-least-once task that is redelivered later starts again in
the same record (`attempts` counts the starts).

A run `STARTED` without a `worker_id` was recorded before runs were tied to a heartbeat, so
nothing tells whether its worker lives: it is ended once it started more than
`unowned_after_seconds` ago (the scheduler's default is the broker's visibility timeout, 1 hour:
a run longer than that is redelivered and run again anyway, so no healthy run is that old).
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from redis.asyncio import Redis

from tasks.catalog import live_worker_ids
from tasks.run_events import announce_run, run_event
from tasks.run_history import mark_runs_lost, mark_unowned_runs_lost, started_run_workers
from tasks.runs import RunState

logger = logging.getLogger("worker.lost_runs")


class LostRunSweeper:
    def __init__(
        self,
        redis: "Redis",
        runs: AsyncCollection[dict[str, object]],
        *,
        grace_seconds: float,
        unowned_after_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.runs = runs
        self.grace_seconds = grace_seconds
        self.unowned_after_seconds = unowned_after_seconds
        self.clock = clock
        self._missing_since: dict[str, float] = {}

    async def sweep(self) -> int:
        """End the started runs of workers missing for the grace period; returns how many."""
        running = await started_run_workers(self.runs)
        live = await live_worker_ids(self.redis)
        now = self.clock()
        missing = running - live
        self._missing_since = {w: self._missing_since.get(w, now) for w in missing}
        gone = sorted(
            w for w, since in self._missing_since.items() if now - since >= self.grace_seconds
        )
        now_utc = datetime.now(UTC)
        ended = unowned = await mark_unowned_runs_lost(
            self.runs,
            started_before=now_utc - timedelta(seconds=self.unowned_after_seconds),
            reason=(
                "no worker is known to run it (recorded before runs were tied to a worker's"
                f" heartbeat) and it started over {self.unowned_after_seconds:.0f} s ago"
            ),
            finished_at=now_utc,
        )
        if unowned:
            logger.warning(
                "old started runs without a worker ended as LOST", extra={"runs": unowned}
            )
        for worker_id in gone:
            reason = f"worker {worker_id} died (its heartbeat stopped) while the run was started"
            started = await self.runs.find(
                {"state": RunState.STARTED.value, "worker_id": worker_id},
                {"task_id": 1, "task": 1, "periodic_task_id": 1},
            ).to_list()
            ended += await mark_runs_lost(
                self.runs, [worker_id], reason=reason, finished_at=datetime.now(UTC)
            )
            for run in started:
                periodic_task_id = run.get("periodic_task_id")
                event = run_event(
                    str(run["task_id"]),
                    str(run.get("task")),
                    RunState.LOST.value,
                    periodic_task_id=str(periodic_task_id) if periodic_task_id else None,
                    error=reason,
                )
                await announce_run(self.redis, event)
            del self._missing_since[worker_id]
        if ended > unowned:
            logger.warning(
                "runs of dead workers ended as LOST",
                extra={"runs": ended - unowned, "workers": gone},
            )
        return ended
