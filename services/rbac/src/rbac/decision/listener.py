"""One pub/sub connection that keeps the decision's in-process state fresh.

Channels: `rbac:manifests` (a service published its routes), `rbac:changes` (roles, bindings,
registry), `auth:revocations` and `auth:users`. While the connection is up the caches are
trusted; when it drops (or stays silent past the heartbeat) they are switched off - every
decision then asks Redis and SQL directly, and fails closed when they cannot answer - until the
connection is back and the registry has been re-read.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from common import revocation, user_events
from common.route_manifest import MANIFEST_CHANNEL, RouteManifest, manifest_key
from common.sql import SqlDatabase
from rbac import changes
from rbac.decision.authorizer import Authorizer
from rbac.registry.service import apply_manifest, load_route_table, manifest_problem

logger = logging.getLogger("rbac.listener")

CHANNELS = (MANIFEST_CHANNEL, changes.CHANNEL, revocation.CHANNEL, user_events.CHANNEL)
# Pub/sub is re-joined (and the caches back on) within this long of Redis answering again.
MAX_BACKOFF_SECONDS = 0.5


class ChangeListener:
    def __init__(
        self,
        redis: "Redis",
        database: SqlDatabase,
        authorizer: Authorizer,
        *,
        heartbeat_seconds: float,
    ) -> None:
        self.redis = redis
        self.database = database
        self.authorizer = authorizer
        self.heartbeat = heartbeat_seconds
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            MANIFEST_CHANNEL: self._on_manifest,
            changes.CHANNEL: self._on_change,
            revocation.CHANNEL: self._on_revocation,
            user_events.CHANNEL: self._on_user_event,
        }

    async def wait_connected(self) -> None:
        """Returns once pub/sub is up (the `/ready` check: without it every decision is slower
        and denies whenever Redis cannot answer)."""
        await self.connected.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rbac-change-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set_live(False)

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, SQLAlchemyError, TimeoutError) as exc:
                if self.connected.is_set():
                    logger.warning("pub/sub lost, caches off: %s", type(exc).__name__)
            except Exception:
                logger.exception("pub/sub listener failed, caches off")
            self._set_live(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        pubsub: PubSub = self.redis.pubsub()
        try:
            await pubsub.subscribe(*CHANNELS)
            # Messages published from here on reach us; now catch up on what came before.
            await self.resync()
            self._set_live(True)
            logger.info("pub/sub connected, caches on")
            last_seen = time.monotonic()
            next_ping = last_seen + self.heartbeat
            while True:
                message = await pubsub.get_message(timeout=self.heartbeat / 2)
                now = time.monotonic()
                if message is not None:
                    last_seen = now
                    await self._dispatch(message)
                if now >= next_ping:
                    await pubsub.ping()
                    next_ping = now + self.heartbeat
                if now - last_seen > 2 * self.heartbeat:
                    raise TimeoutError("pub/sub silent past the heartbeat")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        handler = self._handlers.get(message.get("channel", ""))
        if handler is not None:
            await handler(message.get("data"))

    async def resync(self) -> None:
        """Apply every manifest stored in Redis and reload the route table."""
        services = [
            key.removeprefix(manifest_key(""))
            async for key in self.redis.scan_iter(match=manifest_key("*"), count=200)
        ]
        applied = False
        for service in sorted(services):
            applied = await self._apply(service) or applied
        await self._reload_routes()
        if applied:
            await changes.announce(self.redis, {changes.ChangeKind.REGISTRY})

    async def _apply(self, service: str) -> bool:
        raw = await self.redis.get(manifest_key(service))
        if raw is None:
            return False
        try:
            manifest = RouteManifest.model_validate_json(raw)
        except ValidationError:
            logger.error("ignoring a malformed manifest", extra={"service": service})
            return False
        problem = manifest_problem(manifest, service)
        if problem is not None:
            logger.error("ignoring a manifest: %s", problem, extra={"service": service[:64]})
            return False
        return await apply_manifest(self.database, manifest)

    async def _reload_routes(self) -> None:
        self.authorizer.routes = await load_route_table(self.database)

    async def _on_manifest(self, data: Any) -> None:
        if not isinstance(data, str):
            return
        applied = await self._apply(data)
        await self._reload_routes()
        if applied:
            await changes.announce(self.redis, {changes.ChangeKind.REGISTRY})

    async def _on_change(self, data: Any) -> None:
        kind = changes.parse_change(data)
        if kind is changes.ChangeKind.REGISTRY:
            await self._reload_routes()
        else:
            # Unknown kinds too: dropping the cache is always safe.
            self.authorizer.grants.invalidate()

    async def _on_revocation(self, data: Any) -> None:
        self.authorizer.revocations.apply_revocation(revocation.parse_message(data))

    async def _on_user_event(self, data: Any) -> None:
        event = user_events.parse_user_event(data)
        if event is None:
            # Not understood: assume the worst about every cached verdict.
            self.authorizer.revocations.set_live(self.authorizer.revocations.live)
        else:
            self.authorizer.revocations.apply_user_event(event)
        self.authorizer.grants.invalidate()

    def _set_live(self, live: bool) -> None:
        self.authorizer.revocations.set_live(live)
        self.authorizer.grants.set_live(live)
        if live:
            self.connected.set()
        else:
            self.connected.clear()
