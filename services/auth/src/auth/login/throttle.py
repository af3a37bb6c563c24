"""Failed-login throttling in Redis, per username and per client IP, with growing delays.

- `auth:throttle:user:{sha256(username)}`: consecutive failures for a username (reset by a
  success; forgotten `window` seconds after the last failure);
- `auth:throttle:ip:{ip}`: failures from one IP within `window` seconds of the first.

- `auth:throttle:known:{sha256(username)}`: IPs the user logged in from successfully.

An "IP" here is an IPv4 address or an IPv6 /64 (`rate_limit_subject`): rotating through the
addresses of one IPv6 network neither escapes the per-IP limit nor makes a user's own network,
whose privacy addresses change daily, look like a new place.

After `free` failures each further failure blocks the next attempt for base * 2^k seconds,
capped at `max_delay`. The username block does not apply from an IP the user has logged in from
before, so an attacker elsewhere can slow guessing down without locking the real user out; the
per-IP limit still applies to everyone.
"""

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from auth.errors import LoginThrottledError
from auth.login.client_ip import rate_limit_subject
from auth.sessions.store import AlongsideWrites

# KEYS[1] counter; ARGV: now, free failures, base delay, max delay, window, sliding (1/0)
_FAIL = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local free = tonumber(ARGV[2])
if failures >= free then
  local delay = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (failures - free))
  redis.call('HSET', KEYS[1], 'blocked_until', tonumber(ARGV[1]) + delay)
end
if ARGV[6] == '1' or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
return failures
"""


@dataclass(frozen=True)
class ThrottlePolicy:
    user_free_failures: int
    ip_free_failures: int
    window_seconds: int
    base_delay_seconds: int
    max_delay_seconds: int
    known_ip_ttl_seconds: int = 30 * 24 * 3600


def user_key(username_key: str) -> str:
    digest = hashlib.sha256(username_key.encode()).hexdigest()[:32]
    return f"auth:throttle:user:{digest}"


def known_ips_key(username_key: str) -> str:
    digest = hashlib.sha256(username_key.encode()).hexdigest()[:32]
    return f"auth:throttle:known:{digest}"


def ip_key(ip: str) -> str:
    return f"auth:throttle:ip:{ip}"


class LoginThrottle:
    def __init__(
        self,
        redis: "Redis",
        policy: ThrottlePolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.policy = policy
        self.clock = clock
        self._fail = redis.register_script(_FAIL)

    async def check(self, username_key: str, ip: str, *, consume: str | None = None) -> bool:
        """Raise `LoginThrottledError` (with Retry-After) while either counter blocks.

        `consume` is a key deleted in the same round trip (GETDEL: the login's nonce, spent even
        when the attempt is then refused); returns whether it existed (False without one).
        """
        ip = rate_limit_subject(ip)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(user_key(username_key), "blocked_until")
            pipe.hget(ip_key(ip), "blocked_until")
            pipe.sismember(known_ips_key(username_key), ip)
            if consume is not None:
                pipe.getdel(consume)
            user_block, ip_block, known_ip, *consumed = await pipe.execute()
        blocks = [ip_block] if known_ip else [user_block, ip_block]
        now = self.clock()
        wait = max((float(b) - now for b in blocks if b is not None), default=0.0)
        if wait > 0:
            raise LoginThrottledError(math.ceil(wait))
        return bool(consumed) and consumed[0] is not None

    async def record_failure(self, username_key: str, ip: str) -> None:
        ip = rate_limit_subject(ip)
        now = repr(self.clock())
        p = self.policy
        common = [p.base_delay_seconds, p.max_delay_seconds, p.window_seconds]
        await self._fail(
            keys=[user_key(username_key)], args=[now, p.user_free_failures, *common, 1]
        )
        await self._fail(keys=[ip_key(ip)], args=[now, p.ip_free_failures, *common, 0])

    async def record_success(self, username_key: str, ip: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue_success(pipe, username_key, ip)
            await pipe.execute()

    def success_writes(self, username_key: str, ip: str) -> AlongsideWrites:
        """`record_success` as writes that go with the new session, in its atomic command."""
        return AlongsideWrites(
            delete=user_key(username_key),
            add_to=known_ips_key(username_key),
            member=rate_limit_subject(ip),
            ttl=self.policy.known_ip_ttl_seconds,
        )

    def queue_success(self, pipe: Pipeline, username_key: str, ip: str) -> None:
        """`record_success`'s commands, queued on a pipeline."""
        ip = rate_limit_subject(ip)
        known = known_ips_key(username_key)
        pipe.delete(user_key(username_key))
        pipe.sadd(known, ip)
        pipe.expire(known, self.policy.known_ip_ttl_seconds)
