"""Starting sessions, rotating refresh tokens, listing and revoking sessions."""

import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from auth.errors import InvalidRefreshTokenError, RefreshTokenReusedError, SessionNotFoundError
from auth.sessions.access_tokens import AccessTokenClaims, AccessTokenSigner
from auth.sessions.refresh_tokens import (
    RefreshToken,
    fingerprint,
    new_jti,
    new_refresh_token,
    parse_refresh_token,
)
from auth.sessions.store import (
    AlongsideWrites,
    NewRefresh,
    SessionRecord,
    SessionStore,
    Successor,
)
from auth.users.models import User
from common import revocation

logger = logging.getLogger("auth.sessions")

USER_AGENT_MAX_LENGTH = 512

# Looks a user up by id (the refresh path needs the current name, admin flag and status).
UserLookup = Callable[[uuid.UUID], Awaitable[User | None]]


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str


@dataclass(frozen=True)
class SessionPolicy:
    access_ttl: int
    refresh_ttl: int
    session_max_age: int
    reuse_grace: float


class SessionService:
    def __init__(
        self,
        redis: "Redis",
        signer: AccessTokenSigner,
        policy: SessionPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.store = SessionStore(redis)
        self.signer = signer
        self.policy = policy
        self.clock = clock

    async def start(
        self, user: User, *, user_agent: str, ip: str, alongside: AlongsideWrites | None = None
    ) -> IssuedTokens:
        """A new session for `user` and its first token pair; `alongside` are the caller's own
        Redis writes, made in the same atomic command that stores them."""
        now = self.clock()
        session = SessionRecord(
            id=str(uuid.uuid4()),
            user_id=str(user.id),
            created_at=now,
            expires_at=now + self.policy.session_max_age,
            last_used_at=now,
            user_agent=user_agent[:USER_AGENT_MAX_LENGTH],
            ip=ip,
        )
        token = new_refresh_token(str(user.id))
        refresh_ttl = self._refresh_ttl(session, now)
        first = NewRefresh(
            user_id=token.user_id,
            jti=token.jti,
            session_id=session.id,
            digest=token.digest,
            user_agent_fingerprint=fingerprint(user_agent),
            ttl=refresh_ttl,
        )
        await self.store.create(session, first, alongside=alongside)
        issued_at = int(now)
        claims = self._claims(user, session.id, new_jti(), issued_at)
        return await self._tokens(claims, token, refresh_ttl, now)

    async def refresh(self, raw_token: str, *, user_agent: str, users: UserLookup) -> IssuedTokens:
        """Exchange a refresh token for a new pair; a replay outside the grace window revokes
        the whole session."""
        now = self.clock()
        token = parse_refresh_token(raw_token)
        if token is None:
            raise InvalidRefreshTokenError
        record = await self.store.get_refresh(token.user_id, token.jti)
        if record is None or not hmac.compare_digest(record.digest, token.digest):
            raise InvalidRefreshTokenError
        same_agent = hmac.compare_digest(record.user_agent_fingerprint, fingerprint(user_agent))
        if not same_agent and record.state == "active":
            # Someone else's client holding a live token: refuse it, keep the owner's session.
            raise InvalidRefreshTokenError
        session = await self.store.get(record.session_id)
        if session is None or session.user_id != token.user_id:
            raise InvalidRefreshTokenError
        if session.expires_at <= now:
            await self.revoke(session.id, session.user_id)
            raise InvalidRefreshTokenError
        user = await users(uuid.UUID(token.user_id))
        if user is None or not user.is_active:
            await self.revoke(session.id, session.user_id)
            raise InvalidRefreshTokenError

        issued_at = int(now)
        successor = Successor(
            jti=new_jti(),
            access_jti=new_jti(),
            issued_at=issued_at,
            expires_at=issued_at + self.policy.access_ttl,
        )
        outcome = "used"
        if same_agent:
            outcome = await self.store.claim_refresh(token.user_id, token.jti, now, successor)
        if outcome == "claimed":
            return await self._rotate(user, session, token, successor, user_agent, now)
        if outcome == "used":
            replay = await self.store.get_refresh(token.user_id, token.jti)
            in_grace = replay is not None and 0 <= now - replay.used_at <= self.policy.reuse_grace
            if same_agent and replay is not None and in_grace:
                # A client's concurrent retry: give back what the first request received.
                same = Successor(
                    jti=replay.next_jti,
                    access_jti=replay.next_access_jti,
                    issued_at=replay.next_iat,
                    expires_at=replay.next_exp,
                )
                return await self._successor_tokens(user, session, token, same, now)
            logger.warning("refresh token reused; session revoked", extra={"sid": session.id})
            await self.revoke(session.id, session.user_id)
            raise RefreshTokenReusedError
        raise InvalidRefreshTokenError

    async def list_sessions(self, user_id: str) -> list[SessionRecord]:
        now = self.clock()
        return [s for s in await self.store.list_for_user(user_id) if s.expires_at > now]

    async def revoke_own(self, user_id: str, session_id: str) -> None:
        """Revoke one of the caller's sessions; someone else's is as unknown as a missing one."""
        session = await self.store.get(session_id)
        if session is None or session.user_id != user_id:
            raise SessionNotFoundError
        await self.revoke(session_id, user_id)

    async def revoke(self, session_id: str, user_id: str) -> None:
        await self.store.delete(session_id, user_id)
        await revocation.revoke_session(self.redis, session_id, self.policy.access_ttl)

    async def revoke_all(self, user_id: str) -> None:
        """End every session of the user and kill every access token issued before now."""
        for session_id in await self.store.session_ids(user_id):
            await self.revoke(session_id, user_id)
        # One second back: a login right after (same second) must not be born revoked; the
        # per-session revocations above already cover this second's tokens.
        await revocation.revoke_user_tokens(
            self.redis, user_id, int(self.clock()) - 1, self.policy.access_ttl
        )

    async def _rotate(
        self,
        user: User,
        session: SessionRecord,
        token: RefreshToken,
        successor: Successor,
        user_agent: str,
        now: float,
    ) -> IssuedTokens:
        following = token.successor(successor.jti)
        await self.store.put_refresh(
            NewRefresh(
                user_id=following.user_id,
                jti=following.jti,
                session_id=session.id,
                digest=following.digest,
                user_agent_fingerprint=fingerprint(user_agent),
                ttl=self._refresh_ttl(session, now),
            )
        )
        await self.store.touch(session.id, now)
        return await self._successor_tokens(user, session, token, successor, now)

    async def _successor_tokens(
        self,
        user: User,
        session: SessionRecord,
        token: RefreshToken,
        successor: Successor,
        now: float,
    ) -> IssuedTokens:
        claims = self._claims(user, session.id, successor.access_jti, successor.issued_at)
        return await self._tokens(
            claims, token.successor(successor.jti), self._refresh_ttl(session, now), now
        )

    def _claims(self, user: User, session_id: str, jti: str, issued_at: int) -> AccessTokenClaims:
        return AccessTokenClaims(
            user_id=str(user.id),
            session_id=session_id,
            jti=jti,
            issued_at=issued_at,
            expires_at=issued_at + self.policy.access_ttl,
            name=user.username,
            is_admin=user.is_admin,
        )

    async def _tokens(
        self, claims: AccessTokenClaims, refresh: RefreshToken, refresh_ttl: int, now: float
    ) -> IssuedTokens:
        """The pair as answered; `now` is the request's one clock reading, so `expires_in`
        agrees with the token's `exp - iat` however long the signature took."""
        access = await self.signer.sign(claims)
        return IssuedTokens(
            access_token=access,
            refresh_token=str(refresh),
            expires_in=max(0, claims.expires_at - int(now)),
            refresh_expires_in=refresh_ttl,
            session_id=claims.session_id,
        )

    def _refresh_ttl(self, session: SessionRecord, now: float) -> int:
        return max(1, int(min(self.policy.refresh_ttl, session.expires_at - now)))
