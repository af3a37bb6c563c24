"""The in-process caches: what they keep, when they forget, and what they refuse to keep."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from common.revocation import session_key
from common.tokens import AccessClaims
from common.user_events import UserEvent, UserEventKind, disabled_key
from rbac.decision.grants_cache import GrantsCache
from rbac.decision.revocation_cache import RevocationCache


class Loader:
    """Grants from a dict, counting loads; `gate` holds a load until the test releases it."""

    def __init__(self, grants: dict[str, set[str]]) -> None:
        self.grants = grants
        self.loads = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, user_id: str) -> frozenset[str]:
        self.loads += 1
        snapshot = frozenset(self.grants.get(user_id, set()))
        if self.gate is not None:
            await self.gate.wait()
        return snapshot


def claims(sub: str = "u1", sid: str = "s1", jti: str = "j1", iat: int = 1000) -> AccessClaims:
    return AccessClaims(sub=sub, sid=sid, jti=jti, iat=iat, exp=iat + 900, iss="i", aud="a")


async def test_grants_are_loaded_once_while_live_and_reloaded_after_invalidation() -> None:
    loader = Loader({"u1": {"storage:*"}})
    cache = GrantsCache(loader, ttl=60)
    cache.set_live(True)
    assert (await cache.get("u1")).allows("storage:GET:/files")
    await cache.get("u1")
    assert loader.loads == 1
    loader.grants["u1"] = set()
    cache.invalidate()
    assert not (await cache.get("u1")).allows("storage:GET:/files")
    assert loader.loads == 2


async def test_grants_are_not_cached_while_pubsub_is_down() -> None:
    loader = Loader({"u1": {"storage:*"}})
    cache = GrantsCache(loader, ttl=60)
    await cache.get("u1")
    await cache.get("u1")
    assert loader.loads == 2


async def test_a_load_overtaken_by_a_change_is_not_kept() -> None:
    loader = Loader({"u1": {"storage:*"}})
    cache = GrantsCache(loader, ttl=60)
    cache.set_live(True)
    loader.gate = asyncio.Event()
    stale = asyncio.create_task(cache.get("u1"))
    await asyncio.sleep(0)
    # The grant is withdrawn (and announced) while the first load is still running.
    loader.grants["u1"] = set()
    cache.invalidate()
    loader.gate.set()
    assert (await stale).allows("storage:GET:/files")
    loader.gate = None
    assert not (await cache.get("u1")).allows("storage:GET:/files")


async def test_concurrent_cold_requests_share_one_load() -> None:
    loader = Loader({"u1": {"storage:*"}})
    cache = GrantsCache(loader, ttl=60)
    cache.set_live(True)
    loader.gate = asyncio.Event()
    waiting = [asyncio.create_task(cache.get("u1")) for _ in range(5)]
    await asyncio.sleep(0)
    loader.gate.set()
    results = await asyncio.gather(*waiting)
    assert all(r.allows("storage:GET:/x") for r in results)
    assert loader.loads == 1


async def test_grants_expire_after_the_ttl_even_without_a_message() -> None:
    loader = Loader({"u1": {"storage:*"}})
    cache = GrantsCache(loader, ttl=0.05)
    cache.set_live(True)
    await cache.get("u1")
    await asyncio.sleep(0.1)
    await cache.get("u1")
    assert loader.loads == 2


@pytest.fixture
async def clean_redis(redis_url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


async def _mgets(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_clean_verdict_is_kept_only_while_live(clean_redis: Redis) -> None:
    cache = RevocationCache(clean_redis, ttl=60)
    before = await _mgets(clean_redis)
    assert not await cache.is_revoked(claims())
    assert not await cache.is_revoked(claims())
    assert await _mgets(clean_redis) == before + 2
    cache.set_live(True)
    assert not await cache.is_revoked(claims())
    assert not await cache.is_revoked(claims())
    assert await _mgets(clean_redis) == before + 3


async def test_pubsub_revocation_beats_a_cached_clean_verdict(clean_redis: Redis) -> None:
    cache = RevocationCache(clean_redis, ttl=60)
    cache.set_live(True)
    assert not await cache.is_revoked(claims(sid="s9"))
    cache.apply_revocation({"session_id": "s9"})
    assert await cache.is_revoked(claims(sid="s9"))
    cache.apply_revocation({"user_id": "u1", "issued_before": 2000})
    assert await cache.is_revoked(claims(sid="other", jti="j2", iat=1500))
    assert not await cache.is_revoked(claims(sid="other", jti="j3", iat=2500))


async def test_disabled_then_enabled_user_passes_again(clean_redis: Redis) -> None:
    cache = RevocationCache(clean_redis, ttl=60)
    cache.set_live(True)
    cache.apply_user_event(UserEvent(user_id="u1", event=UserEventKind.DISABLED))
    assert await cache.is_revoked(claims())
    cache.apply_user_event(UserEvent(user_id="u1", event=UserEventKind.ENABLED))
    assert not await cache.is_revoked(claims())


async def test_redis_keys_answer_for_tokens_never_seen(clean_redis: Redis) -> None:
    cache = RevocationCache(clean_redis, ttl=60)
    cache.set_live(True)
    await clean_redis.set(session_key("s-old"), "1")
    await clean_redis.set(disabled_key("u-off"), "1")
    assert await cache.is_revoked(claims(sid="s-old", jti="a"))
    assert await cache.is_revoked(claims(sub="u-off", sid="s2", jti="b"))
    assert not await cache.is_revoked(claims(sub="u-on", sid="s3", jti="c"))


async def test_regaining_pubsub_forgets_announced_disabled_users_and_asks_redis(
    clean_redis: Redis,
) -> None:
    cache = RevocationCache(clean_redis, ttl=60)
    cache.set_live(True)
    cache.apply_user_event(UserEvent(user_id="u1", event=UserEventKind.DISABLED))
    cache.apply_user_event(UserEvent(user_id="u2", event=UserEventKind.DISABLED))
    cache.apply_revocation({"session_id": "s-gone"})
    await clean_redis.set(disabled_key("u2"), "1")
    # Pub/sub drops; u1 is enabled meanwhile (its mark cleared, the message missed).
    cache.set_live(False)
    cache.set_live(True)
    assert not await cache.is_revoked(claims(sub="u1"))
    assert await cache.is_revoked(claims(sub="u2", sid="s2", jti="j2"))
    # A revocation is never undone: it is kept across the reconnection.
    assert await cache.is_revoked(claims(sub="u3", sid="s-gone", jti="j3"))
