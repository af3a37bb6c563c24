"""`EventHub`: one per process and stream; reads the stream once and fans events out.

Each open socket is a `Subscriber` with a bounded queue: the hub never waits on a socket, and a
socket whose queue is full is closed (`SLOW_CONSUMER`) instead of buffered without bound. The hub
also ends sockets whose session ends, listening to the same channels as the gateway's decision:
`auth:revocations` (logout, session deleted, user-wide revocation), `auth:users` (disabled,
deleted) and `rbac:changes` (roles and bindings), after which each non-admin socket is judged
again by rbac's `/authorize`, as the gateway judged its upgrade.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common import revocation, user_events
from common.live_events.event_stream import StreamEvent, decode_entry, last_id
from common.live_events.identity import SocketCaller
from common.live_events.protocol import QUEUE_LIMIT, Close, CloseCode, event_frame
from common.user_events import UserEventKind

logger = logging.getLogger("common.live_events")

RBAC_CHANGES_CHANNEL = "rbac:changes"
READ_BLOCK_MS = 2000  # below the Redis client's socket timeout
READ_COUNT = 500
# rbac's own processes apply a change from the same pub/sub message; asking them twice covers
# one that has not applied it yet when the first question arrives, well within 1 s.
REJUDGE_DELAYS = (0.15, 0.6)
JUDGE_CONCURRENCY = 32
OwnerResolver = Callable[[StreamEvent], Awaitable[str | None]]
Judge = Callable[[SocketCaller], Awaitable[Close | None]]


@dataclass(eq=False)
class Subscriber:
    caller: SocketCaller
    filters: dict[str, str]
    everyone: bool  # an admin's `scope=all`
    queue: asyncio.Queue[tuple[str | None, str]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    ending: asyncio.Future[Close] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def end(self, close: Close) -> None:
        if not self.ending.done():
            self.ending.set_result(close)

    def offer(self, event_id: str | None, text: str) -> None:
        try:
            self.queue.put_nowait((event_id, text))
        except asyncio.QueueFull:
            self.end(Close(CloseCode.SLOW_CONSUMER, "slow_consumer"))

    def sees(self, owner: str | None, data: dict[str, object]) -> bool:
        """Own events only, unless an admin asked for everyone's; then the filters."""
        if not self.everyone and (owner is None or owner != self.caller.claims.sub):
            return False
        return all(str(data.get(name)) == value for name, value in self.filters.items())


async def owner_in_event(event: StreamEvent) -> str | None:
    return event.owner


class EventHub:
    def __init__(
        self,
        redis: "Redis",
        stream: str,
        *,
        owner_of: OwnerResolver = owner_in_event,
        judge: Judge | None = None,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.owner_of = owner_of
        self.judge = judge
        self.subscribers: set[Subscriber] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._judging = asyncio.Semaphore(JUDGE_CONCURRENCY)

    async def start(self) -> None:
        start = await self._start_id()
        self._tasks = [
            asyncio.create_task(self._read(start), name=f"events-read-{self.stream}"),
            asyncio.create_task(self._watch_sessions(), name=f"events-sessions-{self.stream}"),
        ]

    async def _start_id(self) -> str:
        try:
            return await last_id(self.redis, self.stream)
        except (RedisError, OSError):
            return "$"

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscriber in list(self.subscribers):
            subscriber.end(Close(CloseCode.GOING_AWAY, "service_stopping"))

    def attach(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)

    def detach(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def _read(self, after: str) -> None:
        backoff = 0.05
        while True:
            try:
                answer = await self.redis.xread(
                    {self.stream: after}, count=READ_COUNT, block=READ_BLOCK_MS
                )
                backoff = 0.05
            except (RedisError, OSError) as exc:
                logger.warning("event stream unreadable: %s", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            streams: list[Any] = list(answer or ())
            for _stream, entries in streams:
                for entry_id, fields in entries:
                    after = str(entry_id)
                    event = decode_entry(after, fields)
                    if event is not None:
                        await self.dispatch(event)

    async def dispatch(self, event: StreamEvent) -> None:
        if not self.subscribers:
            return
        try:
            owner = event.owner or await self.owner_of(event)
        except Exception:
            # Not knowing whose it is, nobody but admins watching everyone's may see it.
            logger.exception("owner of an event unknown")
            owner = None
        text = event_frame(event.id, event.kind, event.data)
        for subscriber in list(self.subscribers):
            if subscriber.sees(owner, event.data):
                subscriber.offer(event.id, text)

    async def _watch_sessions(self) -> None:
        channels = (revocation.CHANNEL, user_events.CHANNEL, RBAC_CHANGES_CHANNEL)
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(*channels)
                # Whatever was announced while we were not listening is in Redis's keys.
                await self._recheck_sessions()
                self._rejudge_soon()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.on_session_message(str(message["channel"]), message["data"])
            except (RedisError, OSError) as exc:
                logger.warning("session channel lost: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _recheck_sessions(self) -> None:
        """End the sockets whose session was revoked or whose user was disabled, read from the
        marks auth keeps in Redis (after the session channel was lost and is back)."""
        for subscriber in list(self.subscribers):
            claims = subscriber.caller.claims
            revoked = await revocation.is_revoked(
                self.redis, session_id=claims.sid, user_id=claims.sub, issued_at=claims.iat
            )
            if revoked:
                subscriber.end(Close(CloseCode.SESSION_ENDED, "session_revoked"))
            elif await user_events.is_disabled(self.redis, claims.sub):
                subscriber.end(Close(CloseCode.SESSION_ENDED, "user_disabled"))

    def on_session_message(self, channel: str, data: object) -> None:
        """Apply one message of the session channels to the open sockets."""
        if channel == revocation.CHANNEL:
            self._on_revocation(revocation.parse_message(data))
        elif channel == user_events.CHANNEL:
            event = user_events.parse_user_event(data)
            if event is None:
                self._rejudge_soon()
            elif event.event in (UserEventKind.DISABLED, UserEventKind.DELETED):
                self._end_where(
                    lambda c: c.claims.sub == event.user_id,
                    Close(CloseCode.SESSION_ENDED, f"user_{event.event.value}"),
                )
            else:
                self._rejudge_soon(event.user_id)
        elif channel == RBAC_CHANGES_CHANNEL:
            self._rejudge_soon()

    def _on_revocation(self, message: dict[str, object]) -> None:
        session_id = message.get("session_id")
        user_id = message.get("user_id")
        before = message.get("issued_before")
        if isinstance(session_id, str):
            self._end_where(
                lambda c: c.claims.sid == session_id,
                Close(CloseCode.SESSION_ENDED, "session_revoked"),
            )
        elif isinstance(user_id, str) and isinstance(before, int):
            self._end_where(
                lambda c: c.claims.sub == user_id and c.claims.iat <= before,
                Close(CloseCode.SESSION_ENDED, "session_revoked"),
            )
        else:
            self._rejudge_soon()

    def _end_where(self, condition: Callable[[SocketCaller], bool], close: Close) -> None:
        for subscriber in list(self.subscribers):
            if condition(subscriber.caller):
                subscriber.end(close)

    def _rejudge_soon(self, user_id: str | None = None) -> None:
        """Ask the decision again about the non-admin sockets (of `user_id` only, if given)."""
        if self.judge is None:
            return
        targets = [
            s
            for s in self.subscribers
            if not s.caller.claims.adm and user_id in (None, s.caller.claims.sub)
        ]
        if targets:
            task = asyncio.create_task(self._rejudge(targets), name="events-rejudge")
            self._tasks.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: "asyncio.Task[None]") -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _rejudge(self, targets: list[Subscriber]) -> None:
        assert self.judge is not None  # noqa: S101 - checked by the caller
        elapsed = 0.0
        for delay in REJUDGE_DELAYS:
            await asyncio.sleep(delay - elapsed)
            elapsed = delay
            open_ones = [s for s in targets if not s.ending.done()]
            # One question per token, at most JUDGE_CONCURRENCY at a time.
            tokens = {s.caller.token: s.caller for s in open_ones}
            verdicts = dict(
                zip(
                    tokens,
                    await asyncio.gather(*(self._judged(c) for c in tokens.values())),
                    strict=True,
                )
            )
            for subscriber in open_ones:
                verdict = verdicts[subscriber.caller.token]
                if verdict is not None:
                    subscriber.end(verdict)

    async def _judged(self, caller: SocketCaller) -> Close | None:
        assert self.judge is not None  # noqa: S101 - checked by the caller
        async with self._judging:
            return await self.judge(caller)


class RbacJudge:
    """Asks rbac's `/authorize` about a socket as the gateway asked about its upgrade."""

    def __init__(self, rbac_url: str, socket_path: str, *, timeout: float = 2.0) -> None:
        self.url = rbac_url.rstrip("/") + "/authorize"
        self.socket_path = socket_path
        # Waiting for a pooled connection is not rbac being down: only the exchange is timed.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, pool=None))

    async def __call__(self, caller: SocketCaller) -> Close | None:
        headers = {
            "X-Forwarded-Method": "GET",
            "X-Forwarded-Uri": self.socket_path,
            "Authorization": f"Bearer {caller.token}",
        }
        try:
            answer = await self.client.get(self.url, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("rbac unreachable to judge a socket: %s", type(exc).__name__)
            return Close(CloseCode.TRY_AGAIN_LATER, "decision_unavailable")
        if answer.status_code == 200:
            return None
        code = _problem_code(answer)
        if answer.status_code == 401:
            return Close(CloseCode.SESSION_ENDED, code)
        if answer.status_code == 403:
            return Close(CloseCode.FORBIDDEN, code)
        return Close(CloseCode.TRY_AGAIN_LATER, code)

    async def aclose(self) -> None:
        await self.client.aclose()


def _problem_code(answer: httpx.Response) -> str:
    try:
        code = answer.json().get("code")
    except ValueError:
        return "refused"
    return code if isinstance(code, str) else "refused"
