import pytest
from redis.asyncio import Redis

from common import user_events
from common.user_events import UserEvent, UserEventKind


async def test_the_disabled_mark_is_set_and_cleared(redis: Redis) -> None:
    await user_events.mark_disabled(redis, "u-1")
    marked = await user_events.is_disabled(redis, "u-1")
    await user_events.clear_disabled(redis, "u-1")

    assert marked
    assert not await user_events.is_disabled(redis, "u-1")


async def test_a_disabled_mark_with_a_ttl_expires(redis: Redis) -> None:
    await user_events.mark_disabled(redis, "u-2", ttl_seconds=60)

    assert 0 < await redis.ttl(user_events.disabled_key("u-2")) <= 60


async def test_published_events_parse_back(redis: Redis) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(user_events.CHANNEL)
    await pubsub.get_message(timeout=1)

    await user_events.publish_user_event(redis, "u-3", UserEventKind.DELETED)
    message = await pubsub.get_message(timeout=5)
    await pubsub.aclose()  # type: ignore[no-untyped-call]

    assert message is not None
    assert user_events.parse_user_event(message["data"]) == UserEvent(
        user_id="u-3", event=UserEventKind.DELETED
    )


@pytest.mark.parametrize(
    "data",
    ["", "not json", "[]", '{"user_id": "u"}', '{"user_id": "u", "event": "exploded"}', None],
)
def test_anything_else_on_the_channel_is_ignored(data: str | None) -> None:
    assert user_events.parse_user_event(data) is None
