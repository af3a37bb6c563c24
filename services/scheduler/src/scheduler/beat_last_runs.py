"""The Redis last-run store: every dispatch, recorded at once, so a standby that takes over
knows what already ran before the leader's batched SQL write-back got there.

One hash, `scheduler:beat:last_run`: periodic task id → `{"at": ISO instant, "count": n}`.
"""

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from redis.asyncio import Redis

from scheduler.instants import as_utc
from scheduler.repository import RunState

logger = logging.getLogger("scheduler.beat")

LAST_RUN_KEY = "scheduler:beat:last_run"


class LastRunStore:
    def __init__(self, redis: "Redis", key: str = LAST_RUN_KEY) -> None:
        self.redis = redis
        self.key = key

    async def read(self, keys: list[str]) -> dict[str, RunState]:
        """The recorded runs of these tasks (those with a readable record)."""
        if not keys:
            return {}
        values = await self.redis.hmget(self.key, keys)
        return {
            key: state
            for key, value in zip(keys, values, strict=True)
            if value is not None and (state := parse_run_state(key, str(value))) is not None
        }

    async def read_all(self, existing: Iterable[str]) -> dict[str, RunState]:
        """Every recorded run of a task in `existing`; records of other tasks are deleted."""
        alive = set(existing)
        raw = {str(k): str(v) for k, v in (await self.redis.hgetall(self.key)).items()}
        gone = [key for key in raw if key not in alive]
        if gone:
            await self.redis.hdel(self.key, *gone)
        recorded: dict[str, RunState] = {}
        for key, value in raw.items():
            if key in alive and (state := parse_run_state(key, value)) is not None:
                recorded[key] = state
        return recorded

    async def write(self, states: Mapping[str, RunState]) -> None:
        if not states:
            return
        await self.redis.hset(self.key, mapping=encode(states))  # type: ignore[arg-type]


def encode(states: Mapping[str, RunState]) -> dict[str, str]:
    return {
        key: json.dumps({"at": s.last_run_at.isoformat(), "count": s.total_run_count})
        for key, s in states.items()
    }


def parse_run_state(key: str, value: str) -> RunState | None:
    try:
        data = json.loads(value)
        return RunState(
            task_id=uuid.UUID(key),
            last_run_at=as_utc(datetime.fromisoformat(data["at"])),
            total_run_count=int(data["count"]),
        )
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable last-run record for %s", key)
        return None
