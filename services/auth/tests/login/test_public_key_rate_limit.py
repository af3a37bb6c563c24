import pytest
from redis.asyncio import Redis

from auth.errors import PublicKeyRateLimitedError
from auth.login.nonces import NonceStore, nonce_key
from auth.login.public_key_rate_limit import PublicKeyRateLimit, rate_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_limit(redis: Redis, per_minute: int, clock: Clock | None = None) -> PublicKeyRateLimit:
    nonces = NonceStore(redis, ttl_seconds=120)
    return PublicKeyRateLimit(redis, nonces, per_minute=per_minute, clock=clock or Clock())


async def test_calls_up_to_the_limit_pass_and_the_next_is_told_when_the_minute_ends(
    redis: Redis,
) -> None:
    clock = Clock()
    limit = make_limit(redis, 3, clock)
    for _ in range(3):
        await limit.issue_nonce("198.51.100.1")
        clock.now += 5

    with pytest.raises(PublicKeyRateLimitedError) as refused:
        await limit.issue_nonce("198.51.100.1")

    assert refused.value.retry_after == 45
    assert refused.value.headers == {"Retry-After": "45"}


async def test_each_client_ip_has_its_own_count(redis: Redis) -> None:
    limit = make_limit(redis, 2)
    for _ in range(2):
        await limit.issue_nonce("198.51.100.1")

    await limit.issue_nonce("198.51.100.2")
    await limit.issue_nonce("198.51.100.2")
    with pytest.raises(PublicKeyRateLimitedError):
        await limit.issue_nonce("198.51.100.1")


async def test_the_count_starts_over_a_minute_after_the_first_call(redis: Redis) -> None:
    clock = Clock()
    limit = make_limit(redis, 2, clock)
    await limit.issue_nonce("198.51.100.3")
    clock.now += 30
    await limit.issue_nonce("198.51.100.3")
    with pytest.raises(PublicKeyRateLimitedError):
        await limit.issue_nonce("198.51.100.3")

    clock.now += 30
    await limit.issue_nonce("198.51.100.3")
    await limit.issue_nonce("198.51.100.3")
    with pytest.raises(PublicKeyRateLimitedError):
        await limit.issue_nonce("198.51.100.3")


async def test_the_counter_expires_from_redis_with_its_minute(redis: Redis) -> None:
    await make_limit(redis, 2).issue_nonce("198.51.100.4")

    assert 0 < await redis.ttl(rate_key("198.51.100.4")) <= 60


async def test_one_ipv6_64_shares_one_count(redis: Redis) -> None:
    limit = make_limit(redis, 2)
    await limit.issue_nonce("2001:db8:d:1::1")
    await limit.issue_nonce("2001:db8:d:1::2")

    with pytest.raises(PublicKeyRateLimitedError):
        await limit.issue_nonce("2001:db8:d:1:ffff::3")
    await limit.issue_nonce("2001:db8:d:2::1")


async def test_an_admitted_call_gets_a_fresh_stored_nonce_that_expires_with_its_ttl(
    redis: Redis,
) -> None:
    limit = make_limit(redis, 2)
    first = await limit.issue_nonce("198.51.100.5")
    second = await limit.issue_nonce("198.51.100.5")

    assert first != second
    assert 110 < await redis.ttl(nonce_key(first)) <= 120
    assert await NonceStore(redis, ttl_seconds=120).consume(second)


async def test_a_refused_call_stores_no_nonce(redis: Redis) -> None:
    limit = make_limit(redis, 1)
    await limit.issue_nonce("198.51.100.6")
    before = {key async for key in redis.scan_iter("auth:nonce:*")}

    with pytest.raises(PublicKeyRateLimitedError):
        await limit.issue_nonce("198.51.100.6")

    assert {key async for key in redis.scan_iter("auth:nonce:*")} == before
