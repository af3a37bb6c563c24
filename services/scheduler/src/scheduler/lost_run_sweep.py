"""The scheduler's background sweep that ends the runs of dead workers (`tasks.lost_runs`).

It runs in every scheduler process: the sweep is idempotent, so replicas only repeat each other.
With the defaults a run of a dead worker ends `LOST` within 2 minutes: the worker's heartbeat
expires (WORKER_CATALOG_TTL_SECONDS, 60 s), the first sweep notices (every
SCHEDULER_LOST_RUN_SWEEP_SECONDS, 15 s), the grace passes (SCHEDULER_LOST_RUN_GRACE_SECONDS,
30 s) and the next sweep ends it.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tasks.lost_runs import LostRunSweeper

logger = logging.getLogger("scheduler.lost_runs")


async def _sweep_forever(sweeper: LostRunSweeper, interval_seconds: float) -> None:
    while True:
        try:
            await sweeper.sweep()
        except Exception as exc:
            # Redis or MongoDB away: the next sweep tries again; the runs wait, none is lost.
            logger.warning("lost-run sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_seconds)


@asynccontextmanager
async def sweeping(sweeper: LostRunSweeper, interval_seconds: float) -> AsyncIterator[None]:
    """Sweep every `interval_seconds` for the duration of the block."""
    task = asyncio.create_task(_sweep_forever(sweeper, interval_seconds), name="lost-run-sweep")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
