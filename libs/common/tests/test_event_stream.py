"""Events published in one batch land on the stream in order, as single ones do, and a Redis
that cannot take them never fails the publisher."""

import json
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from common.live_events.event_stream import decode_entry, publish_events, stream_key
from mesh.net import free_port


async def test_a_batch_of_events_is_appended_in_order(redis: Redis) -> None:
    stream = stream_key("tests", f"batch-{uuid.uuid4().hex[:8]}")
    try:
        assert await publish_events(
            redis, stream, "thing", [json.dumps({"n": n}) for n in range(50)]
        )
        entries: list[Any] = list(await redis.xrange(stream) or ())
    finally:
        await redis.delete(stream)
    events = [decode_entry(str(entry_id), fields) for entry_id, fields in entries]
    assert [(e.kind, e.owner, e.data) for e in events if e] == [
        ("thing", None, {"n": n}) for n in range(50)
    ]


async def test_an_unreachable_redis_is_reported_not_raised() -> None:
    # Without redis-py's default retries (ten, backing off up to a second each): the same
    # refusal, reported at once instead of after seconds.
    client = Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        assert not await publish_events(
            client, stream_key("tests", "down"), "thing", [json.dumps({"n": 1})]
        )
    finally:
        await client.aclose()
