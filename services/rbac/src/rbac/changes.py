"""`rbac:changes`: every rbac process drops its caches when any of them changes roles, bindings
or the registry. Changes are collected on the SQL session and announced after it commits."""

import json
import logging
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "rbac:changes"
_PENDING = "rbac_changes"

logger = logging.getLogger("rbac.changes")


class ChangeKind(StrEnum):
    ROLES = "roles"
    BINDINGS = "bindings"
    REGISTRY = "registry"


def record_change(session: AsyncSession, kind: ChangeKind) -> None:
    """Announce `kind` once the session's transaction has committed."""
    session.info.setdefault(_PENDING, set()).add(kind)


def pending_changes(session: AsyncSession) -> set[ChangeKind]:
    pending: set[ChangeKind] = session.info.pop(_PENDING, set())
    return pending


def parse_change(data: object) -> ChangeKind | None:
    try:
        parsed = json.loads(data) if isinstance(data, str | bytes) else None
        return ChangeKind(parsed["kind"]) if isinstance(parsed, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


async def announce(redis: "Redis", kinds: set[ChangeKind]) -> None:
    """Publish each change; a failure is logged (the cache TTL bounds the damage elsewhere)."""
    for kind in sorted(kinds):
        try:
            await redis.publish(CHANNEL, json.dumps({"kind": kind.value}))
        except (RedisError, OSError) as exc:
            logger.error("could not announce an rbac change: %s", type(exc).__name__)
            return
