"""Waiting for a system that settles eventually: poll a probe instead of sleeping a fixed time.

- `within(seconds, probe, status)`: the first response with `status`, else the last one; the
  caller asserts, so a contract like "revoked within a second" reads as one assertion.
- `eventually(probe, accept)`: the first value `accept` holds for; fails the test otherwise.
- `until(probe, accept, within)`: like `within` for any value, polled every 20 ms: the first value
  `accept` holds for, else the last one (the caller asserts, with its own message).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest


async def _poll[T](
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], seconds: float, interval: float
) -> tuple[T, bool]:
    """Call `probe` until `accept` holds or `seconds` have passed: the last value, and whether."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if accept(value):
            return value, True
        if time.monotonic() > deadline:
            return value, False
        await asyncio.sleep(interval)


async def within(
    seconds: float, probe: Callable[[], Awaitable[httpx.Response]], status: int
) -> httpx.Response:
    """Poll until `probe` answers `status` or `seconds` have passed; the last response."""
    response, _ = await _poll(probe, lambda r: r.status_code == status, seconds, interval=0.02)
    return response


async def until[T](
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 5.0
) -> T:
    """Poll `probe` until `accept` holds or `within` seconds have passed: the last value."""
    value, _ = await _poll(probe, accept, within, interval=0.02)
    return value


async def eventually[T](
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout: float = 30.0,
    *,
    interval: float = 0.5,
) -> T:
    """Poll `probe` until `accept` holds for its value; fail the test with the last value seen."""
    value, accepted = await _poll(probe, accept, timeout, interval)
    if not accepted:
        pytest.fail(f"condition not met within {timeout}s; last value: {value!r}")
    return value
