"""User lifecycle events auth announces so other services can drop what they cache per user.

auth publishes `{"user_id": ..., "event": "disabled|enabled|deleted|updated"}` on `auth:users`
and keeps `auth:user:disabled:{user_id}` while a user is disabled (or, for a deleted user, as
long as one of its access tokens could still be alive), so a verifier answers "is this user
disabled?" with one O(1) lookup.
"""

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

CHANNEL = "auth:users"


class UserEventKind(StrEnum):
    DISABLED = "disabled"
    ENABLED = "enabled"
    DELETED = "deleted"
    UPDATED = "updated"


class UserEvent(BaseModel):
    user_id: str
    event: UserEventKind


def disabled_key(user_id: str) -> str:
    return f"auth:user:disabled:{user_id}"


async def publish_user_event(redis: "Redis", user_id: str, event: UserEventKind) -> None:
    await redis.publish(CHANNEL, UserEvent(user_id=user_id, event=event).model_dump_json())


async def mark_disabled(redis: "Redis", user_id: str, *, ttl_seconds: int | None = None) -> None:
    """Record the user as disabled; without a TTL the mark stays until `clear_disabled`."""
    await redis.set(disabled_key(user_id), "1", ex=ttl_seconds)


async def clear_disabled(redis: "Redis", user_id: str) -> None:
    await redis.delete(disabled_key(user_id))


async def is_disabled(redis: "Redis", user_id: str) -> bool:
    """One round trip; raises when Redis cannot answer, so callers fail closed."""
    return bool(await redis.exists(disabled_key(user_id)))


def parse_user_event(data: Any) -> UserEvent | None:
    """The event in a pub/sub message, or None when it is not one."""
    try:
        return UserEvent.model_validate(json.loads(data))
    except (TypeError, ValueError, ValidationError):
        return None
