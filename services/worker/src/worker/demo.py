"""Example tasks, also used by the tests: one plain, one `async def`."""

import asyncio

from tasks.tasks_api import task


@task("demo.add")
def add(x: float, y: float) -> float:
    """Add two numbers."""
    return x + y


@task("demo.sleep")
async def sleep(seconds: float) -> float:
    """Sleep asynchronously for `seconds` (at most 60) and return how long it slept."""
    seconds = min(max(seconds, 0.0), 60.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.sleep(seconds)
    return round(loop.time() - started, 3)


@task("demo.sleep_at_least_once", idempotent=True)
async def sleep_at_least_once(seconds: float) -> float:
    """Like demo.sleep, but delivered at least once: if its worker dies mid-run, the message is
    redelivered and the sleep runs again (one run in the history, its attempts counted)."""
    return await sleep.celery_task.run(seconds)  # type: ignore[no-any-return]
