"""A schedule that fires once, at a fixed instant."""

from datetime import datetime, timedelta
from typing import Any

from celery.schedules import BaseSchedule, schedstate

from scheduler.instants import as_utc

# How long beat sleeps on a clocked task that has already fired.
NEVER_AGAIN_SECONDS = 3600.0


class ClockedSchedule(BaseSchedule):  # type: ignore[misc]  # celery ships no type hints
    def __init__(self, run_at: datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_at = as_utc(run_at)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        return self.run_at - as_utc(self.now())

    def is_due(self, last_run_at: datetime | None) -> schedstate:
        """Due once `run_at` has passed, unless it already ran at or after `run_at`."""
        now = as_utc(self.now())
        if last_run_at is not None and as_utc(last_run_at) >= self.run_at:
            return schedstate(False, NEVER_AGAIN_SECONDS)
        if now >= self.run_at:
            return schedstate(True, NEVER_AGAIN_SECONDS)
        return schedstate(False, (self.run_at - now).total_seconds())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClockedSchedule):
            return NotImplemented
        return self.run_at == other.run_at

    def __hash__(self) -> int:
        return hash(self.run_at)

    def __repr__(self) -> str:
        return f"<clocked {self.run_at.isoformat()}>"
