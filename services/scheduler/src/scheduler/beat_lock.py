"""The leader lock: only the beat holding it dispatches.

A Redis key with a short TTL, renewed by its holder once per `renew_seconds` (a tenth of the TTL,
at most 1 s: not on every tick, which comes 20 times a second while tasks keep falling due;
compare-and-renew, so a holder that lost it cannot extend someone else's). A key that vanishes
before its TTL (deleted, or lost in a Redis failover) is noticed at the next renewal: the old
holder may send beside a new one for at most that second. A standby beat tries to take it on
each of its ticks and gets it once the holder stops renewing. The holder only dispatches while
its last successful renewal is younger than the TTL minus a safety margin, measured on its own
monotonic clock from before the renewal was sent - so a holder cut off from Redis stops before a
standby can start.
"""

import os
import socket
import time
import uuid

from redis.asyncio import Redis

LOCK_KEY = "scheduler:beat:leader"

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLock:
    def __init__(self, redis: "Redis", ttl_seconds: float, key: str = LOCK_KEY) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        # Leave room for clock drift and the time the reply took to arrive.
        self._safe_for = ttl_seconds * 0.8
        self.renew_seconds = min(1.0, ttl_seconds / 10)
        self._valid_until = 0.0
        self._renew_at = 0.0
        self.held = False

    @property
    def valid(self) -> bool:
        return self.held and time.monotonic() < self._valid_until

    def due(self) -> bool:
        """Whether `hold` has work: a renewal is due, or the lock is not ours to renew."""
        return not self.held or time.monotonic() >= self._renew_at

    async def hold(self) -> bool:
        """Renew the lock if we hold it, else try to take it. True when we lead."""
        sent_at = time.monotonic()
        if self.held:
            renewed = await self.redis.eval(_RENEW, 1, self.key, self.token, str(self.ttl_ms))
            self.held = bool(renewed)
        if not self.held:
            self.held = bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
        self._valid_until = sent_at + self._safe_for if self.held else 0.0
        self._renew_at = sent_at + self.renew_seconds
        return self.held

    async def release(self) -> None:
        if self.held:
            await self.redis.eval(_RELEASE, 1, self.key, self.token)
        self.held = False
        self._valid_until = 0.0
