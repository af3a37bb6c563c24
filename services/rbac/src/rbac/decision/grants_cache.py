"""Each user's granted permissions, kept in process until a change is announced.

Any role, binding, registry or user change clears the cache (and bumps a generation, so a load
that was already running when the change came cannot store its stale result). Entries also expire
after `ttl` seconds as a safety net, and nothing is cached while pub/sub is down.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from rbac.patterns import Grants

GrantsLoader = Callable[[str], Awaitable[frozenset[str]]]
MAX_USERS = 50_000


class GrantsCache:
    def __init__(self, load: GrantsLoader, *, ttl: float) -> None:
        self._load = load
        self._ttl = ttl
        self._entries: dict[str, tuple[Grants, float]] = {}
        self._loading: dict[str, asyncio.Future[Grants]] = {}
        self._generation = 0
        self.live = False

    @property
    def generation(self) -> int:
        """Changes whenever a grant may have changed."""
        return self._generation

    async def get(self, user_id: str) -> Grants:
        entry = self._entries.get(user_id)
        if entry is not None and self.live and entry[1] > time.monotonic():
            return entry[0]
        pending = self._loading.get(user_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Grants] = asyncio.get_running_loop().create_future()
        self._loading[user_id] = future
        generation = self._generation
        try:
            grants = Grants(await self._load(user_id))
        except BaseException as exc:
            future.set_exception(exc)
            # The waiters (if any) see the error; nobody else must get a "never retrieved" warning.
            future.exception()
            raise
        finally:
            if self._loading.get(user_id) is future:
                del self._loading[user_id]
        future.set_result(grants)
        if self.live and generation == self._generation:
            if len(self._entries) >= MAX_USERS:
                self._entries.clear()
            self._entries[user_id] = (grants, time.monotonic() + self._ttl)
        return grants

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()
        # Requests arriving from now on must not join a load that started before the change.
        self._loading.clear()

    def set_live(self, live: bool) -> None:
        self.live = live
        self.invalidate()
