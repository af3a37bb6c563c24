import pytest
from redis.asyncio import Redis

from auth.errors import PublicKeyRateLimitedError
from auth.login.public_key_rate_limit import PublicKeyRateLimit, rate_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_calls_up_to_the_limit_pass_and_the_next_is_told_when_the_minute_ends(
    redis: Redis,
) -> None:
    clock = Clock()
    limit = PublicKeyRateLimit(redis, per_minute=3, clock=clock)
    for _ in range(3):
        await limit.hit("198.51.100.1")
        clock.now += 5

    with pytest.raises(PublicKeyRateLimitedError) as refused:
        await limit.hit("198.51.100.1")

    assert refused.value.retry_after == 45
    assert refused.value.headers == {"Retry-After": "45"}


async def test_each_client_ip_has_its_own_count(redis: Redis) -> None:
    limit = PublicKeyRateLimit(redis, per_minute=2, clock=Clock())
    for _ in range(2):
        await limit.hit("198.51.100.1")

    await limit.hit("198.51.100.2")
    await limit.hit("198.51.100.2")
    with pytest.raises(PublicKeyRateLimitedError):
        await limit.hit("198.51.100.1")


async def test_the_count_starts_over_a_minute_after_the_first_call(redis: Redis) -> None:
    clock = Clock()
    limit = PublicKeyRateLimit(redis, per_minute=2, clock=clock)
    await limit.hit("198.51.100.3")
    clock.now += 30
    await limit.hit("198.51.100.3")
    with pytest.raises(PublicKeyRateLimitedError):
        await limit.hit("198.51.100.3")

    clock.now += 30
    await limit.hit("198.51.100.3")
    await limit.hit("198.51.100.3")
    with pytest.raises(PublicKeyRateLimitedError):
        await limit.hit("198.51.100.3")


async def test_the_counter_expires_from_redis_with_its_minute(redis: Redis) -> None:
    await PublicKeyRateLimit(redis, per_minute=2).hit("198.51.100.4")

    assert 0 < await redis.ttl(rate_key("198.51.100.4")) <= 60


async def test_one_ipv6_64_shares_one_count(redis: Redis) -> None:
    limit = PublicKeyRateLimit(redis, per_minute=2, clock=Clock())
    await limit.hit("2001:db8:d:1::1")
    await limit.hit("2001:db8:d:1::2")

    with pytest.raises(PublicKeyRateLimitedError):
        await limit.hit("2001:db8:d:1:ffff::3")
    await limit.hit("2001:db8:d:2::1")
