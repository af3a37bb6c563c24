"""Which sessions and users are revoked or disabled, known in process.

Pub/sub messages (`auth:revocations`, `auth:users`) are applied at once and always win. A token
not covered by them is looked up in Redis once (session key, user key, disabled mark in one MGET)
and remembered as clean for at most `ttl` seconds. While the pub/sub connection is down nothing
is remembered: every check goes to Redis, and when Redis cannot answer the check raises, so the
caller denies. Losing or regaining pub/sub forgets the disabled users it announced (a user enabled
meanwhile would otherwise stay refused); the Redis mark answers for them.
"""

import time
from typing import Any

from redis.asyncio import Redis

from common.revocation import session_key, user_key
from common.tokens import AccessClaims
from common.user_events import UserEvent, UserEventKind, disabled_key

MAX_ENTRIES = 100_000
# How long a revocation learnt from pub/sub is kept; past it the Redis key (which auth keeps
# while any token could live) answers instead.
REMEMBER_REVOKED_SECONDS = 3600.0


class RevocationCache:
    def __init__(self, redis: "Redis", *, ttl: float) -> None:
        self._redis = redis
        self._ttl = ttl
        self._revoked_sessions: dict[str, float] = {}
        self._revoked_before: dict[str, tuple[int, float]] = {}
        self._disabled: dict[str, float] = {}
        self._clean: dict[str, float] = {}
        # Bumped whenever what we knew may be incomplete, so a lookup that started before
        # cannot store a verdict after.
        self._generation = 0
        self.live = False

    @property
    def generation(self) -> int:
        """Changes whenever a token that passed before may not pass any more."""
        return self._generation

    async def is_revoked(self, claims: AccessClaims) -> bool:
        now = time.monotonic()
        if self._known_revoked(claims, now):
            return True
        if self.live and self._clean.get(claims.jti, 0.0) > now:
            return False
        generation = self._generation
        revoked = await self._lookup(claims)
        if not revoked and self.live and generation == self._generation:
            if len(self._clean) >= MAX_ENTRIES:
                self._clean.clear()
            self._clean[claims.jti] = now + self._ttl
        return revoked

    def _known_revoked(self, claims: AccessClaims, now: float) -> bool:
        if self._revoked_sessions.get(claims.sid, 0.0) > now:
            return True
        if self._disabled.get(claims.sub, 0.0) > now:
            return True
        before = self._revoked_before.get(claims.sub)
        return before is not None and before[1] > now and claims.iat <= before[0]

    async def _lookup(self, claims: AccessClaims) -> bool:
        session, before, disabled = await self._redis.mget(
            session_key(claims.sid), user_key(claims.sub), disabled_key(claims.sub)
        )
        if session is not None or disabled is not None:
            return True
        return before is not None and claims.iat <= int(before)

    def apply_revocation(self, message: dict[str, Any]) -> None:
        """A message of `auth:revocations` (session-wide or user-wide)."""
        until = time.monotonic() + REMEMBER_REVOKED_SECONDS
        self._make_room()
        self._generation += 1
        session_id = message.get("session_id")
        if isinstance(session_id, str):
            self._revoked_sessions[session_id] = until
        user_id = message.get("user_id")
        before = message.get("issued_before")
        if isinstance(user_id, str) and isinstance(before, int):
            previous = self._revoked_before.get(user_id, (before, until))[0]
            self._revoked_before[user_id] = (max(before, previous), until)

    def apply_user_event(self, event: UserEvent) -> None:
        """A message of `auth:users`; enabling a user forgets what was decided about them."""
        self._generation += 1
        if event.event in (UserEventKind.DISABLED, UserEventKind.DELETED):
            self._make_room()
            self._disabled[event.user_id] = time.monotonic() + REMEMBER_REVOKED_SECONDS
        elif event.event is UserEventKind.ENABLED:
            self._disabled.pop(event.user_id, None)

    def set_live(self, live: bool) -> None:
        """Pub/sub connected (True) or lost (False); either way what we knew may be incomplete.

        Disabled marks learnt from pub/sub are forgotten too: the user may have been enabled
        while no message could reach us, and the Redis mark (kept by auth while the user is
        disabled) answers from now on. Revocations are kept: nothing undoes them.
        """
        self.live = live
        self._generation += 1
        self._clean.clear()
        self._disabled.clear()

    def _make_room(self) -> None:
        if len(self._revoked_sessions) + len(self._revoked_before) + len(self._disabled) < (
            MAX_ENTRIES
        ):
            return
        # Forgetting revocations is only safe together with every clean verdict: from now on
        # the Redis keys answer.
        now = time.monotonic()
        for table in (self._revoked_sessions, self._disabled):
            for key in [k for k, until in table.items() if until <= now]:
                del table[key]
        self._revoked_before = {k: v for k, v in self._revoked_before.items() if v[1] > now}
        if len(self._revoked_sessions) + len(self._revoked_before) + len(self._disabled) >= (
            MAX_ENTRIES
        ):
            self._revoked_sessions.clear()
            self._revoked_before.clear()
            self._disabled.clear()
        self._generation += 1
        self._clean.clear()
