"""Per-client-IP limit on `GET /keys/public`, in Redis, and the nonce each admitted call gets.

Every call stores a login nonce for its whole lifetime, so without a limit one anonymous client
could fill Redis. `auth:rate:public-key:{ip}` counts an IP's calls within a minute of its first
counted call and expires with that minute; an "IP" is an IPv4 address or an IPv6 /64. Counting
the call and storing its nonce is one script: one round trip, and no nonce without admission.
"""

import time
from collections.abc import Callable

from redis.asyncio import Redis

from auth.errors import PublicKeyRateLimitedError
from auth.login.client_ip import rate_limit_subject
from auth.login.nonces import NonceStore, nonce_key

WINDOW_SECONDS = 60

# KEYS[1] counter, KEYS[2] the nonce to store when admitted; ARGV: now, limit, window, nonce
# TTL. Returns 0 when admitted, else seconds to wait. `now` comes from the caller (not Redis'
# TIME) so the window can be tested with a clock.
_ADMIT = """
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
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[4], 'NX')
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
        nonces: NonceStore,
        *,
        per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.nonces = nonces
        self.per_minute = per_minute
        self.clock = clock
        self._admit = redis.register_script(_ADMIT)

    async def issue_nonce(self, ip: str) -> str:
        """Count one call from `ip` and return the fresh nonce stored for it; once over the
        limit, raise `PublicKeyRateLimitedError` and store nothing."""
        nonce = self.nonces.new()
        wait = await self._admit(
            keys=[rate_key(rate_limit_subject(ip)), nonce_key(nonce)],
            args=[repr(self.clock()), self.per_minute, WINDOW_SECONDS, self.nonces.ttl_seconds],
        )
        if int(wait) > 0:
            raise PublicKeyRateLimitedError(int(wait))
        return nonce
