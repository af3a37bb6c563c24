import uuid
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from redis.asyncio import Redis

from auth.errors import InvalidRefreshTokenError, RefreshTokenReusedError, SessionNotFoundError
from auth.keys import KeyRing
from auth.sessions.access_tokens import AccessTokenSigner
from auth.sessions.refresh_tokens import parse_refresh_token
from auth.sessions.service import SessionPolicy, SessionService, UserLookup
from auth.sessions.store import AlongsideWrites, refresh_key, session_key, user_sessions_key
from auth.users.models import User
from common import revocation

UA = "browser/1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key_ring(private_key_pem: str) -> KeyRing:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return KeyRing(private_key=key)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def user() -> User:
    return User(
        id=uuid.uuid4(), username="alice", username_key="alice", password_hash="x", name="Alice"
    )


@pytest.fixture
def make_service(redis: Redis, key_ring: KeyRing, clock: Clock) -> Callable[..., SessionService]:
    def make(grace: float = 2.0, max_age: int = 3600) -> SessionService:
        signer = AccessTokenSigner(key_ring, issuer="iss", audience="aud")
        policy = SessionPolicy(
            access_ttl=900, refresh_ttl=600, session_max_age=max_age, reuse_grace=grace
        )
        return SessionService(redis, signer, policy, clock=clock)

    return make


def _lookup(user: User | None) -> UserLookup:
    async def find(_user_id: uuid.UUID) -> User | None:
        return user

    return find


async def _calls(redis: Redis) -> dict[str, int]:
    """How often Valkey has run each command so far (a script's own commands included)."""
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


async def test_start_stores_the_session_its_refresh_token_and_the_callers_writes_in_one_command(
    make_service: Callable[..., SessionService], user: User, redis: Redis
) -> None:
    await redis.set("failures", "3")
    await redis.sadd("known", "198.51.100.1")
    alongside = AlongsideWrites(delete="failures", add_to="known", member="203.0.113.1", ttl=60)
    service = make_service()
    await service.start(user, user_agent=UA, ip="203.0.113.1")  # the script is loaded now
    before = await _calls(redis)

    pair = await service.start(user, user_agent=UA, ip="203.0.113.1", alongside=alongside)

    after = await _calls(redis)
    assert after["evalsha"] == before["evalsha"] + 1
    assert after.get("exec", 0) == before.get("exec", 0)
    client_commands = {"evalsha", "exec", "multi", "info"}
    assert {name for name in after if after[name] != before.get(name, 0)} - client_commands <= {
        "hset",
        "expire",
        "sadd",
        "del",
    }
    token = parse_refresh_token(pair.refresh_token)
    assert token is not None
    assert await redis.hget(session_key(pair.session_id), "user_id") == str(user.id)
    assert await redis.hget(refresh_key(token.user_id, token.jti), "state") == "active"
    assert await redis.ttl(refresh_key(token.user_id, token.jti)) > 0
    assert pair.session_id in await redis.smembers(user_sessions_key(str(user.id)))
    assert await redis.ttl(session_key(pair.session_id)) > 0
    assert await redis.get("failures") is None
    assert await redis.smembers("known") == {"198.51.100.1", "203.0.113.1"}
    assert 0 < await redis.ttl("known") <= 60


async def test_refresh_rotates_to_a_new_pair_of_the_same_session(
    make_service: Callable[..., SessionService], user: User, clock: Clock
) -> None:
    service = make_service()
    first = await service.start(user, user_agent=UA, ip="203.0.113.1")
    clock.now += 10

    second = await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))

    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.session_id == first.session_id
    claims = jwt.decode(second.access_token, options={"verify_signature": False})
    assert claims["sid"] == first.session_id
    assert claims["iat"] == int(clock.now)


class TickingClock(Clock):
    """Moves 0.6 s at every reading, as a loaded machine's clock does around an RSA signature."""

    def __call__(self) -> float:
        self.now += 0.6
        return self.now


async def test_expires_in_is_the_whole_lifetime_however_long_signing_takes(
    redis: Redis, key_ring: KeyRing, user: User
) -> None:
    signer = AccessTokenSigner(key_ring, issuer="iss", audience="aud")
    policy = SessionPolicy(access_ttl=900, refresh_ttl=600, session_max_age=3600, reuse_grace=2)
    service = SessionService(redis, signer, policy, clock=TickingClock())

    started = await service.start(user, user_agent=UA, ip="203.0.113.1")
    refreshed = await service.refresh(started.refresh_token, user_agent=UA, users=_lookup(user))

    for pair in (started, refreshed):
        claims = jwt.decode(pair.access_token, options={"verify_signature": False})
        assert pair.expires_in == 900 == claims["exp"] - claims["iat"]


async def test_reused_refresh_token_revokes_the_session(
    make_service: Callable[..., SessionService], user: User, clock: Clock, redis: Redis
) -> None:
    service = make_service()
    first = await service.start(user, user_agent=UA, ip="203.0.113.1")
    second = await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))
    clock.now += 3  # past the 2 s grace window

    with pytest.raises(RefreshTokenReusedError):
        await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))

    # The whole family is dead: the rotated token too, and the session's access tokens.
    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(second.refresh_token, user_agent=UA, users=_lookup(user))
    assert await redis.exists(revocation.session_key(first.session_id))


async def test_a_retry_within_the_grace_window_gets_the_same_new_pair(
    make_service: Callable[..., SessionService], user: User, clock: Clock
) -> None:
    service = make_service(grace=2.0)
    first = await service.start(user, user_agent=UA, ip="203.0.113.1")
    rotated = await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))
    clock.now += 1.5

    retried = await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))

    assert retried.refresh_token == rotated.refresh_token
    assert retried.access_token == rotated.access_token
    # And the pair handed out twice still works once.
    await service.refresh(rotated.refresh_token, user_agent=UA, users=_lookup(user))


async def test_a_used_token_from_another_user_agent_revokes_the_session_even_within_grace(
    make_service: Callable[..., SessionService], user: User
) -> None:
    service = make_service(grace=2.0)
    first = await service.start(user, user_agent=UA, ip="203.0.113.1")
    rotated = await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))

    with pytest.raises(RefreshTokenReusedError):
        await service.refresh(first.refresh_token, user_agent="curl/8", users=_lookup(user))
    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(rotated.refresh_token, user_agent=UA, users=_lookup(user))


async def test_refresh_from_another_user_agent_is_refused_and_the_token_stays_usable(
    make_service: Callable[..., SessionService], user: User
) -> None:
    service = make_service()
    first = await service.start(user, user_agent=UA, ip="203.0.113.1")

    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(first.refresh_token, user_agent="stolen/1", users=_lookup(user))
    await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "0" * 36 + ".AAAAAAAAAAAAAAAAAAAAAA." + "A" * 43, "x" * 5000],
)
async def test_malformed_or_unknown_refresh_tokens_are_refused(
    make_service: Callable[..., SessionService], user: User, token: str
) -> None:
    with pytest.raises(InvalidRefreshTokenError):
        await make_service().refresh(token, user_agent=UA, users=_lookup(user))


async def test_a_forged_secret_for_a_real_jti_is_refused_without_harming_the_session(
    make_service: Callable[..., SessionService], user: User
) -> None:
    service = make_service()
    first = await service.start(user, user_agent=UA, ip="203.0.113.1")
    user_id, jti, _secret = first.refresh_token.split(".")

    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(f"{user_id}.{jti}.{'B' * 43}", user_agent=UA, users=_lookup(user))
    await service.refresh(first.refresh_token, user_agent=UA, users=_lookup(user))


async def test_only_a_hash_of_the_refresh_token_is_stored(
    make_service: Callable[..., SessionService], user: User, redis: Redis
) -> None:
    first = await make_service().start(user, user_agent=UA, ip="203.0.113.1")
    user_id, jti, secret = first.refresh_token.split(".")

    stored = await redis.hgetall(refresh_key(user_id, jti))

    assert stored["state"] == "active"
    assert all(secret not in value for value in stored.values())
    assert all(first.refresh_token not in value for value in stored.values())


async def test_a_session_past_its_absolute_lifetime_cannot_be_refreshed(
    make_service: Callable[..., SessionService], user: User, clock: Clock
) -> None:
    service = make_service(max_age=600)
    pair = await service.start(user, user_agent=UA, ip="203.0.113.1")
    for _ in range(3):
        clock.now += 150
        pair = await service.refresh(pair.refresh_token, user_agent=UA, users=_lookup(user))
    assert pair.refresh_expires_in <= 150
    clock.now += 151

    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(pair.refresh_token, user_agent=UA, users=_lookup(user))


async def test_a_disabled_or_deleted_user_cannot_refresh(
    make_service: Callable[..., SessionService], user: User
) -> None:
    service = make_service()
    pair = await service.start(user, user_agent=UA, ip="203.0.113.1")
    user.is_active = False

    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(pair.refresh_token, user_agent=UA, users=_lookup(user))
    other = await service.start(user, user_agent=UA, ip="203.0.113.1")
    with pytest.raises(InvalidRefreshTokenError):
        await service.refresh(other.refresh_token, user_agent=UA, users=_lookup(None))


async def test_revoke_all_ends_every_session_and_revokes_earlier_tokens(
    make_service: Callable[..., SessionService], user: User, clock: Clock, redis: Redis
) -> None:
    service = make_service()
    pairs = [await service.start(user, user_agent=UA, ip="203.0.113.1") for _ in range(3)]
    clock.now += 5

    await service.revoke_all(str(user.id))

    assert await service.list_sessions(str(user.id)) == []
    for pair in pairs:
        claims = jwt.decode(pair.access_token, options={"verify_signature": False})
        assert await revocation.is_revoked(
            redis, session_id=claims["sid"], user_id=claims["sub"], issued_at=claims["iat"]
        )
        with pytest.raises(InvalidRefreshTokenError):
            await service.refresh(pair.refresh_token, user_agent=UA, users=_lookup(user))
    # A login right afterwards is not born revoked.
    fresh = await service.start(user, user_agent=UA, ip="203.0.113.1")
    claims = jwt.decode(fresh.access_token, options={"verify_signature": False})
    assert not await revocation.is_revoked(
        redis, session_id=claims["sid"], user_id=claims["sub"], issued_at=claims["iat"]
    )


async def test_a_user_cannot_revoke_someone_elses_session(
    make_service: Callable[..., SessionService], user: User
) -> None:
    service = make_service()
    pair = await service.start(user, user_agent=UA, ip="203.0.113.1")

    with pytest.raises(SessionNotFoundError):
        await service.revoke_own(str(uuid.uuid4()), pair.session_id)
    assert [s.id for s in await service.list_sessions(str(user.id))] == [pair.session_id]
