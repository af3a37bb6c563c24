"""`rbac:changes`: every rbac process drops its caches when any of them changes roles, bindings
or the registry. A request's changes are collected by its `ChangeRecorder` and announced from
the session's after-commit hook, so a rolled-back change is never announced."""

import json
import logging
from collections.abc import Callable
from enum import StrEnum

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.unit_of_work import AfterCommit

CHANNEL = "rbac:changes"

logger = logging.getLogger("rbac.changes")


class ChangeKind(StrEnum):
    ROLES = "roles"
    BINDINGS = "bindings"
    REGISTRY = "registry"


class ChangeRecorder:
    """The changes of one request, announced once its transaction has committed: this process
    first (`drop_caches`, no round trip), then every other rbac process."""

    def __init__(
        self, after_commit: AfterCommit, redis: "Redis", drop_caches: Callable[[], None]
    ) -> None:
        self._after_commit = after_commit
        self._redis = redis
        self._drop_caches = drop_caches
        self._kinds: set[ChangeKind] = set()

    def record(self, kind: ChangeKind) -> None:
        if not self._kinds:
            self._after_commit.add(self._announce)
        self._kinds.add(kind)

    async def _announce(self) -> None:
        kinds, self._kinds = self._kinds, set()
        self._drop_caches()
        await announce(self._redis, kinds)


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
