"""Sessions and refresh-token records in Redis.

- `auth:session:{sid}` (hash): the session, expiring at its absolute end;
- `auth:user-sessions:{user_id}` (set): the user's session ids;
- `auth:refresh:{user_id}:{jti}` (hash): one refresh token: its digest, session, User-Agent
  fingerprint and state. A used token stays (state `used`, with what it was exchanged for) until
  the session would have ended, so a replay is recognised.
"""

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

# A new session, its first refresh token and, optionally, the writes of a successful login (a
# key deleted, a member added to a set that then expires), atomically in one command.
# KEYS: session, user's sessions, refresh token[, key to delete, set to add to]
# ARGV: user_id, created_at, expires_at, last_used_at, user_agent, ip, session ttl, session id,
#       digest, User-Agent fingerprint, refresh ttl[, member, set ttl]
_CREATE = """
redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'created_at', ARGV[2], 'expires_at', ARGV[3],
  'last_used_at', ARGV[4], 'user_agent', ARGV[5], 'ip', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('SADD', KEYS[2], ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[7], 'GT')
redis.call('EXPIRE', KEYS[2], ARGV[7], 'NX')
redis.call('HSET', KEYS[3], 'session_id', ARGV[8], 'digest', ARGV[9], 'ua', ARGV[10],
  'state', 'active')
redis.call('EXPIRE', KEYS[3], ARGV[11])
if #KEYS == 5 then
  redis.call('DEL', KEYS[4])
  redis.call('SADD', KEYS[5], ARGV[12])
  redis.call('EXPIRE', KEYS[5], ARGV[13])
end
return 1
"""

# Marks a token used exactly once, even when two requests race with it.
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state ~= 'active' then return 'used' end
redis.call('HSET', KEYS[1], 'state', 'used', 'used_at', ARGV[1], 'next_jti', ARGV[2],
  'next_access_jti', ARGV[3], 'next_iat', ARGV[4], 'next_exp', ARGV[5])
return 'claimed'
"""


def session_key(session_id: str) -> str:
    return f"auth:session:{session_id}"


def user_sessions_key(user_id: str) -> str:
    return f"auth:user-sessions:{user_id}"


def refresh_key(user_id: str, jti: str) -> str:
    return f"auth:refresh:{user_id}:{jti}"


@dataclass(frozen=True)
class SessionRecord:
    id: str
    user_id: str
    created_at: float
    expires_at: float
    last_used_at: float
    user_agent: str
    ip: str


@dataclass(frozen=True)
class RefreshRecord:
    session_id: str
    digest: str
    user_agent_fingerprint: str
    state: str
    used_at: float
    next_jti: str
    next_access_jti: str
    next_iat: int
    next_exp: int


@dataclass(frozen=True)
class NewRefresh:
    """A refresh token to store: `active` until claimed."""

    user_id: str
    jti: str
    session_id: str
    digest: str
    user_agent_fingerprint: str
    ttl: int


@dataclass(frozen=True)
class AlongsideWrites:
    """Writes that go with a new session, in the same atomic command: `delete` is deleted,
    `member` is added to the set `add_to`, which then expires in `ttl` seconds (a successful
    login: the throttle forgets the username's failures and remembers the address)."""

    delete: str
    add_to: str
    member: str
    ttl: int


@dataclass(frozen=True)
class Successor:
    jti: str
    access_jti: str
    issued_at: int
    expires_at: int


class SessionStore:
    def __init__(self, redis: "Redis") -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._create = redis.register_script(_CREATE)

    async def _hash(self, key: str) -> dict[str, str]:
        raw = await self.redis.hgetall(key)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def create(
        self, record: SessionRecord, first: NewRefresh, *, alongside: AlongsideWrites | None = None
    ) -> None:
        """Store a session with its first refresh token in one script (one command, atomic):
        neither exists without the other, nor without the caller's `alongside` writes."""
        ttl = max(1, int(record.expires_at - record.created_at))
        keys = [
            session_key(record.id),
            user_sessions_key(record.user_id),
            refresh_key(first.user_id, first.jti),
        ]
        args: list[str | int] = [
            record.user_id,
            repr(record.created_at),
            repr(record.expires_at),
            repr(record.last_used_at),
            record.user_agent,
            record.ip,
            ttl,
            record.id,
            first.digest,
            first.user_agent_fingerprint,
            max(1, first.ttl),
        ]
        if alongside is not None:
            keys += [alongside.delete, alongside.add_to]
            args += [alongside.member, alongside.ttl]
        await self._create(keys=keys, args=args)

    async def get(self, session_id: str) -> SessionRecord | None:
        data = await self._hash(session_key(session_id))
        if not data:
            return None
        return SessionRecord(
            id=session_id,
            user_id=data["user_id"],
            created_at=float(data["created_at"]),
            expires_at=float(data["expires_at"]),
            last_used_at=float(data["last_used_at"]),
            user_agent=data.get("user_agent", ""),
            ip=data.get("ip", ""),
        )

    async def touch(self, session_id: str, now: float) -> None:
        await self.redis.hset(session_key(session_id), "last_used_at", repr(now))

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        ids = {_text(i) for i in await self.redis.smembers(user_sessions_key(user_id))}
        sessions = []
        gone = []
        for session_id in sorted(ids):
            record = await self.get(session_id)
            if record is None or record.user_id != user_id:
                gone.append(session_id)
            else:
                sessions.append(record)
        if gone:
            await self.redis.srem(user_sessions_key(user_id), *gone)
        return sorted(sessions, key=lambda s: s.created_at)

    async def session_ids(self, user_id: str) -> list[str]:
        ids = {_text(i) for i in await self.redis.smembers(user_sessions_key(user_id))}
        return sorted(ids)

    async def delete(self, session_id: str, user_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(session_key(session_id))
            pipe.srem(user_sessions_key(user_id), session_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def put_refresh(self, token: NewRefresh) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            _queue_refresh(pipe, token)
            await pipe.execute()

    async def get_refresh(self, user_id: str, jti: str) -> RefreshRecord | None:
        data = await self._hash(refresh_key(user_id, jti))
        if not data:
            return None
        return RefreshRecord(
            session_id=data["session_id"],
            digest=data["digest"],
            user_agent_fingerprint=data["ua"],
            state=data["state"],
            used_at=float(data.get("used_at", 0)),
            next_jti=data.get("next_jti", ""),
            next_access_jti=data.get("next_access_jti", ""),
            next_iat=int(data.get("next_iat", 0)),
            next_exp=int(data.get("next_exp", 0)),
        )

    async def claim_refresh(self, user_id: str, jti: str, now: float, nxt: Successor) -> str:
        """`claimed` for the first use of the token, `used` after that, `missing` when gone."""
        result = await self._claim(
            keys=[refresh_key(user_id, jti)],
            args=[repr(now), nxt.jti, nxt.access_jti, nxt.issued_at, nxt.expires_at],
        )
        return str(result)


def _queue_refresh(pipe: Pipeline, token: NewRefresh) -> None:
    key = refresh_key(token.user_id, token.jti)
    pipe.hset(
        key,
        mapping={
            "session_id": token.session_id,
            "digest": token.digest,
            "ua": token.user_agent_fingerprint,
            "state": "active",
        },
    )
    pipe.expire(key, max(1, token.ttl))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
