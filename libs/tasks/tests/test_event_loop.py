import asyncio
import threading

import pytest

from tasks.event_loop import LoopThread


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_every_coroutine_runs_on_the_same_long_lived_loop() -> None:
    loops = LoopThread("test-loop")
    try:
        first = loops.run(running_loop())
        second = loops.run(running_loop())
        assert first is second
        assert first.is_running()
    finally:
        loops.stop()


def test_coroutines_from_many_threads_share_the_loop() -> None:
    loops = LoopThread("test-loop")
    seen: list[asyncio.AbstractEventLoop] = []

    def submit() -> None:
        seen.append(loops.run(running_loop()))

    try:
        threads = [threading.Thread(target=submit) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 4
        assert len({id(loop) for loop in seen}) == 1
    finally:
        loops.stop()


def test_an_exception_in_the_coroutine_reaches_the_caller() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    loops = LoopThread("test-loop")
    try:
        with pytest.raises(ValueError, match="boom"):
            loops.run(fail())
        assert loops.run(running_loop()).is_running()
    finally:
        loops.stop()
