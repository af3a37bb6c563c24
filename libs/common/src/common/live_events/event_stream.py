"""The Redis streams events travel on: one per service topic, trimmed to the resume window.

An entry holds `kind` (`run.state`, `file.ready`, ...), `owner` (the user id it belongs to, or
empty when the reader resolves it) and `data` (JSON). Entry ids are the event ids clients resume
from. Publishing never fails the caller's work: an event that cannot be written is logged and
dropped (the record it announces is the truth; a client re-reads it over HTTP).
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.live_events.protocol import STREAM_MAXLEN

logger = logging.getLogger("common.live_events")


def stream_key(service: str, topic: str) -> str:
    return f"events:{service}:{topic}"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    kind: str
    owner: str | None
    data: dict[str, Any]


def encode_event(kind: str, data: dict[str, Any], owner: str | None = None) -> dict[str, str]:
    return {"kind": kind, "owner": owner or "", "data": json.dumps(data, default=str)}


def decode_entry(entry_id: str, fields: Any) -> StreamEvent | None:
    """The event of a stream entry, or None for an entry we did not write."""
    if not isinstance(fields, dict):
        return None
    try:
        data = json.loads(fields["data"])
        kind = fields["kind"]
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(kind, str):
        return None
    owner = fields.get("owner")
    return StreamEvent(entry_id, kind, owner if isinstance(owner, str) and owner else None, data)


# XADDs a batch of events of one kind and owner (ARGV: the stream's MAXLEN, the kind, the owner,
# then every event's JSON data, one a line): one command and one argument for the batch, where
# an XADD per event costs its caller a command, several arguments and a reply each (beat's
# batches spent 5 times the client CPU on them).
_APPEND_SCRIPT = """
for data in string.gmatch(ARGV[4], '[^\\n]+') do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
    'kind', ARGV[2], 'owner', ARGV[3], 'data', data)
end
"""


def _lines(datas: Sequence[str]) -> str:
    # A raw newline in JSON can only be whitespace between tokens (inside a string it is
    # escaped), so it may become a space; `json.dumps` writes none anyway.
    return "\n".join(d.replace("\n", " ") if "\n" in d else d for d in datas)


def append_events(
    pipeline: Any, stream: str, kind: str, datas: Sequence[str], owner: str | None = None
) -> None:
    """Queue the XADDs of events of one `kind` (and `owner`) whose data is JSON already, in
    order and trimmed as `publish_event` trims, as one command on a Redis pipeline (sync or
    async): for events that ride the caller's own round trip (beat's sends). Whether it runs
    is the caller's to handle."""
    if datas:
        pipeline.eval(_APPEND_SCRIPT, 1, stream, STREAM_MAXLEN, kind, owner or "", _lines(datas))


async def publish_events(
    redis: "Redis", stream: str, kind: str, datas: Sequence[str], owner: str | None = None
) -> bool:
    """Append events of one kind (their data JSON already) in one round trip; False when Redis
    could not take them (logged, not raised)."""
    if not datas:
        return True
    try:
        async with redis.pipeline(transaction=False) as pipeline:
            append_events(pipeline, stream, kind, datas, owner)
            await pipeline.execute()
    except (RedisError, OSError) as exc:
        logger.warning("events not published: %s", type(exc).__name__, extra={"stream": stream})
        return False
    return True


async def publish_event(
    redis: "Redis", stream: str, kind: str, data: dict[str, Any], *, owner: str | None = None
) -> str | None:
    """Append an event; its id, or None when Redis could not take it (logged, not raised)."""
    try:
        entry_id = await redis.xadd(
            stream,
            encode_event(kind, data, owner),  # type: ignore[arg-type]
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )
    except (RedisError, OSError) as exc:
        logger.warning("event not published: %s", type(exc).__name__, extra={"stream": stream})
        return None
    return entry_id if isinstance(entry_id, str) else entry_id.decode()


async def last_id(redis: "Redis", stream: str) -> str:
    """The id of the stream's newest entry (`0-0` when empty): where a new client resumes from."""
    newest = await redis.xrevrange(stream, count=1)
    return str(newest[0][0]) if newest else "0-0"


def _parse_id(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def valid_id(entry_id: str) -> bool:
    try:
        _parse_id(entry_id)
    except ValueError:
        return False
    return True


async def lost_since(redis: "Redis", stream: str, after: str) -> bool:
    """Whether events newer than `after` were trimmed away (the resume point left the window)."""
    try:
        info = await redis.xinfo_stream(stream)
    except RedisError:
        return False  # no stream yet: nothing was ever trimmed
    deleted = info.get("max-deleted-entry-id") or "0-0"
    return _parse_id(str(deleted)) > _parse_id(after)
