import pytest
from redis.asyncio import Redis

from auth.errors import LoginThrottledError
from auth.login.throttle import LoginThrottle, ThrottlePolicy

POLICY = ThrottlePolicy(
    user_free_failures=5,
    ip_free_failures=20,
    window_seconds=900,
    base_delay_seconds=2,
    max_delay_seconds=60,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _retry_after(throttle: LoginThrottle, username: str, ip: str) -> int:
    try:
        await throttle.check(username, ip)
    except LoginThrottledError as exc:
        return exc.retry_after
    return 0


async def test_delays_grow_after_five_failures_and_are_capped(redis: Redis) -> None:
    clock = Clock()
    throttle = LoginThrottle(redis, POLICY, clock=clock)
    delays = []
    for _ in range(12):
        await throttle.record_failure("mallory", "198.51.100.1")
        delay = await _retry_after(throttle, "mallory", "198.51.100.1")
        delays.append(delay)
        clock.now += delay

    assert delays == [0, 0, 0, 0, 2, 4, 8, 16, 32, 60, 60, 60]


async def test_a_success_resets_the_usernames_count(redis: Redis) -> None:
    clock = Clock()
    throttle = LoginThrottle(redis, POLICY, clock=clock)
    for _ in range(4):
        await throttle.record_failure("alice", "198.51.100.2")

    await throttle.record_success("alice", "198.51.100.2")
    await throttle.record_failure("alice", "198.51.100.2")

    assert await _retry_after(throttle, "alice", "198.51.100.2") == 0


async def test_the_username_block_does_not_outlive_its_delay(redis: Redis) -> None:
    clock = Clock()
    throttle = LoginThrottle(redis, POLICY, clock=clock)
    for _ in range(5):
        await throttle.record_failure("bob", "198.51.100.3")
    assert await _retry_after(throttle, "bob", "198.51.100.3") == 2

    clock.now += 2.5

    assert await _retry_after(throttle, "bob", "198.51.100.3") == 0


async def test_twenty_failures_from_one_ip_block_every_username_from_it(redis: Redis) -> None:
    clock = Clock()
    throttle = LoginThrottle(redis, POLICY, clock=clock)
    for n in range(20):
        await throttle.record_failure(f"user{n}", "198.51.100.4")

    assert await _retry_after(throttle, "somebody-new", "198.51.100.4") == 2
    assert await _retry_after(throttle, "somebody-new", "198.51.100.5") == 0


async def test_an_attacker_elsewhere_does_not_lock_the_user_out_of_a_known_ip(
    redis: Redis,
) -> None:
    throttle = LoginThrottle(redis, POLICY, clock=Clock())
    await throttle.record_success("erin", "192.0.2.10")
    for _ in range(8):
        await throttle.record_failure("erin", "198.51.100.66")

    assert await _retry_after(throttle, "erin", "198.51.100.66") == 16
    assert await _retry_after(throttle, "erin", "198.51.100.67") == 16
    assert await _retry_after(throttle, "erin", "192.0.2.10") == 0


async def test_rotating_through_one_ipv6_64_counts_as_one_address(redis: Redis) -> None:
    throttle = LoginThrottle(redis, POLICY, clock=Clock())
    for n in range(20):
        await throttle.record_failure(f"user{n}", f"2001:db8:a:1::{n + 1:x}")

    assert await _retry_after(throttle, "somebody-new", "2001:db8:a:1:ffff::9") == 2
    assert await _retry_after(throttle, "somebody-new", "2001:db8:a:2::1") == 0


async def test_a_users_own_ipv6_network_stays_known_when_its_address_rotates(
    redis: Redis,
) -> None:
    throttle = LoginThrottle(redis, POLICY, clock=Clock())
    await throttle.record_success("frank", "2001:db8:b:1::1234")
    for _ in range(8):
        await throttle.record_failure("frank", "2001:db8:c:1::66")

    assert await _retry_after(throttle, "frank", "2001:db8:c:1::67") == 16
    assert await _retry_after(throttle, "frank", "2001:db8:b:1:aaaa::1") == 0


async def test_counters_expire_with_the_window(redis: Redis) -> None:
    throttle = LoginThrottle(redis, POLICY)
    await throttle.record_failure("carol", "198.51.100.6")

    ttls = [await redis.ttl(k) async for k in redis.scan_iter("auth:throttle:*")]

    assert len(ttls) == 2
    assert all(0 < ttl <= POLICY.window_seconds for ttl in ttls)


@pytest.mark.parametrize("username", ["Dave", "DAVE"])
async def test_throttled_logins_raise_with_retry_after(redis: Redis, username: str) -> None:
    throttle = LoginThrottle(redis, POLICY, clock=Clock())
    for _ in range(5):
        await throttle.record_failure(username.casefold(), "198.51.100.7")

    with pytest.raises(LoginThrottledError) as caught:
        await throttle.check("dave", "198.51.100.8")

    assert caught.value.headers == {"Retry-After": "2"}
