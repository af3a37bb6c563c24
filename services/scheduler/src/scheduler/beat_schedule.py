"""Beat's schedule in memory: the entries by periodic task id, and a heap of them keyed by
when each is next due, so a tick touches only what is due.

An edit does not search the heap: it pushes the new entry, and the old one is dropped when it
comes up (it is no longer the entry the schedule holds under its id). The heap is rebuilt when
such leftovers outnumber the live entries.
"""

import heapq
import itertools
import logging
import time
from collections.abc import Iterator

from celery.schedules import schedstate

from scheduler.beat_entry import PeriodicTaskEntry

logger = logging.getLogger("scheduler.beat")

# Where `is_due` itself fails, try the entry again this much later (as Celery does).
FAILED_RETRY_SECONDS = 1.0


class Schedule:
    def __init__(self) -> None:
        self.entries: dict[str, PeriodicTaskEntry] = {}
        self._heap: list[tuple[float, int, PeriodicTaskEntry]] = []
        self._order = itertools.count()
        self._built = False

    def __len__(self) -> int:
        return len(self.entries)

    def replace(self, entries: dict[str, PeriodicTaskEntry]) -> None:
        """A whole new schedule; the heap is rebuilt on the next tick."""
        self.entries = entries
        self.invalidate()

    def invalidate(self) -> None:
        self._heap = []
        self._built = False

    def put(self, entry: PeriodicTaskEntry, now: float | None = None) -> None:
        """Add or replace `entry` (an edit) and queue it by when it is due."""
        self.entries[entry.name] = entry
        if self._built:
            self.push(entry, due_in(entry), now)

    def remove(self, key: str) -> None:
        self.entries.pop(key, None)

    def push(self, entry: PeriodicTaskEntry, in_seconds: float, now: float | None = None) -> None:
        when = (time.time() if now is None else now) + max(0.0, in_seconds)
        heapq.heappush(self._heap, (when, next(self._order), entry))

    def due(self, now: float, limit: int) -> Iterator[PeriodicTaskEntry]:
        """Pop up to `limit` live entries whose time has come."""
        if not self._built:
            self._build(now)
        heap = self._heap
        taken = 0
        while heap and taken < limit and heap[0][0] <= now:
            entry = heapq.heappop(heap)[2]
            if self.entries.get(entry.name) is entry:
                taken += 1
                yield entry

    def next_due(self) -> float | None:
        if not self._built:
            return None
        while self._heap and self.entries.get(self._heap[0][2].name) is not self._heap[0][2]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def _build(self, now: float) -> None:
        self._heap = [(now + due_in(e), next(self._order), e) for e in self.entries.values()]
        heapq.heapify(self._heap)
        self._built = True

    def compact_if_needed(self, now: float) -> None:
        if self._built and len(self._heap) > 2 * len(self.entries) + 1024:
            live = [item for item in self._heap if self.entries.get(item[2].name) is item[2]]
            heapq.heapify(live)
            self._heap = live


def check_due(entry: PeriodicTaskEntry) -> schedstate:
    try:
        return entry.is_due()
    except Exception:
        logger.exception(
            "could not tell when %s is due; trying again in %.0f s",
            entry.name,
            FAILED_RETRY_SECONDS,
            extra={"periodic_task_id": entry.name},
        )
        return schedstate(False, FAILED_RETRY_SECONDS)


def due_in(entry: PeriodicTaskEntry) -> float:
    """Seconds until `entry` is due (0 when it is due now)."""
    is_due, next_in = check_due(entry)
    return 0.0 if is_due else float(next_in)
