"""One event socket from accept to close: filters, resume, heartbeats, client messages, the end.

Whatever the client sends or does, the socket ends with a close code of `protocol.CloseCode`,
never with an unhandled error.
"""

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from common.live_events.event_stream import decode_entry, last_id, lost_since, valid_id
from common.live_events.hub import EventHub, Subscriber
from common.live_events.identity import SocketCaller
from common.live_events.protocol import (
    HEARTBEAT_SECONDS,
    MAX_CLIENT_MESSAGE_BYTES,
    QUEUE_LIMIT,
    RESERVED_PARAMETERS,
    STREAM_MAXLEN,
    Close,
    CloseCode,
    event_frame,
    frame,
)

logger = logging.getLogger("common.live_events")
REPLAY_PAGE = 500


class EventFilter(BaseModel):
    """Base of a service's filters: unknown names are refused; `scope=all` is for admins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = "own"

    def selected(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump(exclude={"scope"}).items() if v is not None}


class _RefusedError(Exception):
    def __init__(self, close: Close) -> None:
        self.close = close


def _filters(model: type[EventFilter], raw: dict[str, Any], caller: SocketCaller) -> EventFilter:
    try:
        chosen = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        kind = "unknown_filter" if first["type"] == "extra_forbidden" else "invalid_filter"
        raise _RefusedError(Close(CloseCode.BAD_MESSAGE, f"{kind}: {where}"[:120])) from exc
    if chosen.scope not in ("own", "all"):
        raise _RefusedError(Close(CloseCode.BAD_MESSAGE, "invalid_filter: scope"))
    if chosen.scope == "all" and not caller.claims.adm:
        raise _RefusedError(Close(CloseCode.FORBIDDEN, "admin_required"))
    return chosen


async def serve_events(
    websocket: WebSocket, caller: SocketCaller, hub: EventHub, model: type[EventFilter]
) -> None:
    """Run the socket until it ends; the caller is already judged (`SocketCallerDep`)."""
    await websocket.accept()
    close = await _session(websocket, caller, hub, model)
    if close is not None and websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await websocket.close(close.code, close.reason)


async def _session(
    websocket: WebSocket, caller: SocketCaller, hub: EventHub, model: type[EventFilter]
) -> Close | None:
    params = websocket.query_params
    raw = {k: v for k, v in params.multi_items() if k not in RESERVED_PARAMETERS}
    resume = params.get("last_event_id")
    try:
        names = [k for k, _ in params.multi_items() if k not in RESERVED_PARAMETERS]
        if len(names) != len(raw) or len(params.getlist("last_event_id")) > 1:
            raise _RefusedError(Close(CloseCode.BAD_MESSAGE, "invalid_filter: repeated"))
        chosen = _filters(model, raw, caller)
        if resume is not None and not valid_id(resume):
            raise _RefusedError(Close(CloseCode.BAD_MESSAGE, "invalid_filter: last_event_id"))
    except _RefusedError as refused:
        return refused.close
    subscriber = Subscriber(caller, chosen.selected(), chosen.scope == "all")
    hub.attach(subscriber)
    try:
        try:
            floor = await _welcome(websocket, hub, subscriber, chosen, resume)
        except (RedisError, OSError):
            return Close(CloseCode.TRY_AGAIN_LATER, "dependency_unavailable")
        return await _run(websocket, subscriber, model, floor)
    except WebSocketDisconnect:
        return None
    finally:
        hub.detach(subscriber)


async def _welcome(
    websocket: WebSocket,
    hub: EventHub,
    subscriber: Subscriber,
    chosen: EventFilter,
    resume: str | None,
) -> str:
    """Send the welcome and, when resuming, every event after `resume`; returns the id up to
    which the stream has been sent (queued live events up to it are skipped)."""
    newest = await last_id(hub.redis, hub.stream)
    floor = resume if resume is not None else newest
    await websocket.send_text(
        frame(
            {
                "type": "welcome",
                "stream": hub.stream,
                "filter": chosen.model_dump(exclude_none=True),
                "last_event_id": floor,
                "resume_window_events": STREAM_MAXLEN,
                "heartbeat_seconds": HEARTBEAT_SECONDS,
                "queue_limit": QUEUE_LIMIT,
            }
        )
    )
    if resume is None:
        return floor
    if await lost_since(hub.redis, hub.stream, resume):
        await websocket.send_text(
            frame({"type": "gap", "detail": "events after last_event_id left the window"})
        )
    while True:
        entries: list[Any] = list(
            await hub.redis.xrange(hub.stream, min=f"({floor}", max="+", count=REPLAY_PAGE) or ()
        )
        for entry_id, fields in entries:
            floor = str(entry_id)
            event = decode_entry(floor, fields)
            if event is None:
                continue
            owner = event.owner or await hub.owner_of(event)
            if subscriber.sees(owner, event.data):
                await websocket.send_text(event_frame(event.id, event.kind, event.data))
        if len(entries) < REPLAY_PAGE:
            return floor


def _newer(event_id: str, floor: str) -> bool:
    a, _, b = event_id.partition("-")
    c, _, d = floor.partition("-")
    return (int(a), int(b or 0)) > (int(c), int(d or 0))


async def _run(
    websocket: WebSocket, subscriber: Subscriber, model: type[EventFilter], floor: str
) -> Close | None:
    ending = subscriber.ending
    expiry = asyncio.get_running_loop().call_later(
        max(0.0, subscriber.caller.claims.exp - time.time()),
        subscriber.end,
        Close(CloseCode.SESSION_ENDED, "token_expired"),
    )
    sender = asyncio.create_task(_send(websocket, subscriber, floor))
    receiver = asyncio.create_task(_receive(websocket, subscriber, model))
    waited: set[asyncio.Future[Any]] = {sender, receiver, ending}
    try:
        done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    finally:
        expiry.cancel()
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
    if ending in done:
        return ending.result()
    for finished in done:
        if finished.cancelled():
            continue
        error = finished.exception()
        if isinstance(error, WebSocketDisconnect | OSError):
            return None
        if error is not None:
            logger.error("event socket failed", exc_info=error)
            return Close(CloseCode.INTERNAL_ERROR, "internal_error")
        result = finished.result()
        if isinstance(result, Close):
            return result
    return None


async def _send(websocket: WebSocket, subscriber: Subscriber, floor: str) -> None:
    while True:
        try:
            event_id, text = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_SECONDS)
        except TimeoutError:
            await websocket.send_text(frame({"type": "heartbeat", "at": time.time()}))
            continue
        if event_id is not None:
            if not _newer(event_id, floor):
                continue
            floor = event_id
        await websocket.send_text(text)


async def _receive(
    websocket: WebSocket, subscriber: Subscriber, model: type[EventFilter]
) -> Close | None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > MAX_CLIENT_MESSAGE_BYTES:
            return Close(CloseCode.MESSAGE_TOO_BIG, "message_too_big")
        close = _apply(data, subscriber, model)
        if close is not None:
            return close


def _apply(data: str | bytes, subscriber: Subscriber, model: type[EventFilter]) -> Close | None:
    """One client message: `{"type": "ping"}` or `{"type": "subscribe", "filter": {...}}`."""
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return Close(CloseCode.BAD_MESSAGE, "malformed_message")
    if not isinstance(message, dict):
        return Close(CloseCode.BAD_MESSAGE, "malformed_message")
    kind = message.get("type")
    if kind == "ping" and set(message) == {"type"}:
        subscriber.offer(None, frame({"type": "pong"}))
        return None
    if kind != "subscribe" or set(message) != {"type", "filter"}:
        return Close(CloseCode.BAD_MESSAGE, "malformed_message")
    raw = message["filter"]
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        return Close(CloseCode.BAD_MESSAGE, "malformed_message")
    try:
        chosen = _filters(model, raw, subscriber.caller)
    except _RefusedError as refused:
        return refused.close
    subscriber.filters = chosen.selected()
    subscriber.everyone = chosen.scope == "all"
    subscriber.offer(None, frame({"type": "subscribed", "filter": chosen.model_dump()}))
    return None
