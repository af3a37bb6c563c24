"""Per-client-IP limit on `GET /keys/public`, in Redis.

Every call stores a login nonce for its whole lifetime, so without a limit one anonymous client
could fill Redis. `auth:rate:public-key:{ip}` counts an IP's calls within a minute of its first
counted call and expires with that minute; an "IP" is an IPv4 address or an IPv6 /64.
"""

import time
from collections.abc import Callable

from redis.asyncio import Redis

from auth.errors import PublicKeyRateLimitedError
from auth.login.client_ip import rate_limit_subject

WINDOW_SECONDS = 60

# KEYS[1] counter; ARGV: now, limit, window. Returns 0 when allowed, else seconds to wait.
# `now` comes from the caller (not Redis' TIME) so the window can be tested with a clock.
_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local started = tonumber(redis.call('HGET', KEYS[1], 'started'))
if started == nil or now >= started + window then
  started = now
  redis.call('HSET', KEYS[1], 'started', ARGV[1], 'calls', 0)
  redis.call('EXPIRE', KEYS[1], window)
end
local calls = redis.call('HINCRBY', KEYS[1], 'calls', 1)
if calls <= tonumber(ARGV[2]) then
  return 0
end
return math.max(1, math.ceil(started + window - now))
"""


def rate_key(ip: str) -> str:
    return f"auth:rate:public-key:{ip}"


class PublicKeyRateLimit:
    def __init__(
        self,
        redis: "Redis",
        *,
        per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.per_minute = per_minute
        self.clock = clock
        self._hit = redis.register_script(_HIT)

    async def hit(self, ip: str) -> None:
        """Count one call from `ip`; raise `PublicKeyRateLimitedError` once over the limit."""
        wait = await self._hit(
            keys=[rate_key(rate_limit_subject(ip))],
            args=[repr(self.clock()), self.per_minute, WINDOW_SECONDS],
        )
        if int(wait) > 0:
            raise PublicKeyRateLimitedError(int(wait))
