"""`running_hub`: the lifespan part of a service with events."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from common.live_events.hub import EventHub, OwnerResolver, RbacJudge, owner_in_event
from common.live_events.routes import SOCKET_PATH
from common.settings import ServiceSettings


@asynccontextmanager
async def running_hub(
    app: FastAPI,
    settings: ServiceSettings,
    redis: "Redis",
    stream: str,
    *,
    owner_of: OwnerResolver = owner_in_event,
) -> AsyncIterator[EventHub]:
    """Run the app's `EventHub` on `stream` (kept on `app.state.event_hub`) for the block;
    its sockets are closed with 1001 when the block ends."""
    judge = None
    if settings.rbac_url is not None:
        socket_path = f"/{app.state.service_name}{SOCKET_PATH}"
        judge = RbacJudge(str(settings.rbac_url), socket_path)
    hub = EventHub(redis, stream, owner_of=owner_of, judge=judge)
    await hub.start()
    app.state.event_hub = hub
    try:
        yield hub
    finally:
        await hub.stop()
        if judge is not None:
            await judge.aclose()
