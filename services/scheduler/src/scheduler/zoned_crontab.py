"""Crontab in a task's own time zone, exact across daylight-saving changes.

Rules (the same as classic cron):
- A time that occurs twice when clocks go back runs once, at its first occurrence, unless the
  hour field is `*`: such jobs follow elapsed time and run in both occurrences.
- A time skipped when clocks go forward is not missed: a fixed-hour job runs shifted forward by
  the length of the gap (02:30 becomes 03:30); an `*`-hour job simply has no run at a time that
  does not exist, since the hour after it comes an hour later in real time anyway.
- Day of week counts from 0 = Sunday (Celery's convention); day of month and day of week must
  both match.
"""

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import BaseSchedule, ParseException, crontab, schedstate

from scheduler.instants import as_utc

# A pattern like "29 February" may need years to come around; past this nothing ever will.
MAX_SEARCH_DAYS = 366 * 8 + 2
# No zone moves its clock by more than this within a day (used to bound the first day's scan).
MAX_OFFSET_JUMP = timedelta(hours=3)


class CrontabFields:
    """The expanded, sorted values of the five crontab fields."""

    def __init__(
        self,
        minute: str = "*",
        hour: str = "*",
        day_of_week: str = "*",
        day_of_month: str = "*",
        month_of_year: str = "*",
    ) -> None:
        try:
            parsed = crontab(
                minute=minute,
                hour=hour,
                day_of_week=day_of_week,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
            )
        except ParseException as exc:
            raise ValueError(str(exc) or "cannot parse the crontab field") from exc
        self.spec = (minute, hour, day_of_week, day_of_month, month_of_year)
        self.minutes = sorted(parsed.minute)
        self.hours = sorted(parsed.hour)
        self.days_of_week = frozenset(parsed.day_of_week)
        self.days_of_month = frozenset(parsed.day_of_month)
        self.months = frozenset(parsed.month_of_year)
        self.any_hour = len(self.hours) == 24
        self.time_list = [time(h, m) for h in self.hours for m in self.minutes]

    def day_matches(self, day: date) -> bool:
        return (
            day.month in self.months
            and day.day in self.days_of_month
            and (day.weekday() + 1) % 7 in self.days_of_week
        )


def _occurrences(naive: datetime, zone: tzinfo, *, both_folds: bool) -> list[datetime]:
    """The instants a local wall-clock time stands for under the rules above."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return [first.astimezone(UTC)]
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
    if exists:  # clocks went back: the time occurs twice
        return (
            [first.astimezone(UTC), second.astimezone(UTC)]
            if both_folds
            else [first.astimezone(UTC)]
        )
    # Clocks went forward over this time. fold=0 reads it with the offset from before the gap,
    # which lands as far after the gap as the time was into it.
    return [] if both_folds else [first.astimezone(UTC)]


def _first_wall_time_after(fields: CrontabFields, local: datetime) -> datetime | None:
    """The first matching wall-clock time strictly after `local` (naive), ignoring the zone."""
    day = local.date()
    start = bisect_right(fields.time_list, local.time())
    for _ in range(MAX_SEARCH_DAYS):
        if fields.day_matches(day) and start < len(fields.time_list):
            return datetime.combine(day, fields.time_list[start])
        day += timedelta(days=1)
        start = 0
    return None


def _is_plain(naive: datetime, zone: tzinfo) -> bool:
    """The wall time exists exactly once."""
    return (
        naive.replace(tzinfo=zone, fold=0).utcoffset()
        == naive.replace(tzinfo=zone, fold=1).utcoffset()
    )


def next_run_after(fields: CrontabFields, zone: tzinfo, after: datetime) -> datetime:
    """The first instant (UTC) strictly after `after` at which the crontab fires."""
    after = after.astimezone(UTC)
    local = after.astimezone(zone)
    local_naive = local.replace(tzinfo=None)
    # Fast path, almost always taken: no clock change just behind us and a candidate that exists
    # exactly once, so wall-clock order is time order and the first wall time after now wins.
    if (
        _is_plain(local_naive, zone)
        and (after - MAX_OFFSET_JUMP).astimezone(zone).utcoffset() == local.utcoffset()
    ):
        candidate = _first_wall_time_after(fields, local_naive)
        if candidate is None:
            raise ValueError("the crontab never fires")
        if _is_plain(candidate, zone):
            return candidate.replace(tzinfo=zone).astimezone(UTC)
    return _next_run_across_a_clock_change(fields, zone, after)


def _next_run_across_a_clock_change(
    fields: CrontabFields, zone: tzinfo, after: datetime
) -> datetime:
    scan_from = after.astimezone(zone).replace(tzinfo=None) - MAX_OFFSET_JUMP
    best: datetime | None = None
    day = scan_from.date()
    for _ in range(MAX_SEARCH_DAYS):
        if fields.day_matches(day):
            for at in fields.time_list:
                naive = datetime.combine(day, at)
                if naive < scan_from:
                    continue
                for instant in _occurrences(naive, zone, both_folds=fields.any_hour):
                    if instant > after and (best is None or instant < best):
                        best = instant
                first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
                # First occurrences grow with the wall clock; a later time cannot beat `best`.
                if first > after and best is not None:
                    return best
        day += timedelta(days=1)
    if best is not None:
        return best
    raise ValueError("the crontab never fires")


class ZonedCrontab(BaseSchedule):  # type: ignore[misc]  # celery ships no type hints
    """A Celery schedule for a crontab evaluated in `zone`."""

    def __init__(self, fields: CrontabFields, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fields = fields
        self.zone = zone

    def next_after(self, after: datetime) -> datetime:
        return next_run_after(self.fields, self.zone, as_utc(after))

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        return self.next_after(last_run_at) - as_utc(self.now())

    def is_due(self, last_run_at: datetime) -> schedstate:
        now = as_utc(self.now())
        upcoming = self.next_after(last_run_at)
        if upcoming <= now:
            return schedstate(True, (self.next_after(now) - now).total_seconds())
        return schedstate(False, (upcoming - now).total_seconds())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ZonedCrontab):
            return NotImplemented
        return self.fields.spec == other.fields.spec and self.zone.key == other.zone.key

    def __hash__(self) -> int:
        return hash((self.fields.spec, self.zone.key))

    def __repr__(self) -> str:
        return f"<crontab {' '.join(self.fields.spec)} {self.zone.key}>"
