"""Revocation records shared by auth (writer) and every verifier (readers).

A revoked session is a Redis key that lives as long as an access token can; a user-wide
revocation (disable, password change) stores the time before which every token is dead.
Both are announced on one pub/sub channel so in-process caches drop what they hold at once.
"""

import json
from typing import Any

from redis.asyncio import Redis

CHANNEL = "auth:revocations"


def session_key(session_id: str) -> str:
    return f"auth:revoked:session:{session_id}"


def user_key(user_id: str) -> str:
    return f"auth:revoked:user:{user_id}"


async def revoke_session(redis: "Redis", session_id: str, ttl_seconds: int) -> None:
    await redis.set(session_key(session_id), "1", ex=max(1, ttl_seconds))
    await redis.publish(CHANNEL, json.dumps({"session_id": session_id}))


async def revoke_user_tokens(redis: "Redis", user_id: str, issued_before: int, ttl: int) -> None:
    """Every token of `user_id` issued at or before `issued_before` (unix s) is revoked."""
    await redis.set(user_key(user_id), str(issued_before), ex=max(1, ttl))
    await redis.publish(CHANNEL, json.dumps({"user_id": user_id, "issued_before": issued_before}))


async def is_revoked(redis: "Redis", *, session_id: str, user_id: str, issued_at: int) -> bool:
    """One round trip; raises when Redis cannot answer, so callers fail closed."""
    revoked_session, revoked_before = await redis.mget(session_key(session_id), user_key(user_id))
    if revoked_session is not None:
        return True
    return revoked_before is not None and issued_at <= int(revoked_before)


def parse_message(data: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
