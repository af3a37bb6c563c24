import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.zoned_crontab import CrontabFields, ZonedCrontab, next_run_after

NEW_YORK = ZoneInfo("America/New_York")


def runs_between(
    fields: CrontabFields, zone: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """The run instants a beat would produce, asking for the next run after each run."""
    runs: list[datetime] = []
    moment = start
    while True:
        moment = next_run_after(fields, zone, moment)
        if moment >= end:
            return runs
        runs.append(moment)


def brute_force_runs(
    fields: CrontabFields, zone: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """Every UTC minute whose wall-clock time matches: the elapsed-time reading of cron."""
    runs: list[datetime] = []
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < end:
        local = moment.astimezone(zone)
        if fields.day_matches(local.date()) and local.time().replace(tzinfo=None) in set(
            fields.time_list
        ):
            runs.append(moment)
        moment += timedelta(minutes=1)
    return runs


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_daily_job_in_the_skipped_hour_runs_once_shifted_forward_on_spring_forward_day() -> None:
    fields = CrontabFields(minute="30", hour="2")
    runs = runs_between(fields, NEW_YORK, utc(2026, 3, 6), utc(2026, 3, 11))
    local = [r.astimezone(NEW_YORK) for r in runs]
    assert [t.date().day for t in local] == [6, 7, 8, 9, 10]
    assert [(t.hour, t.minute) for t in local] == [(2, 30), (2, 30), (3, 30), (2, 30), (2, 30)]


def test_daily_job_in_the_repeated_hour_runs_once_on_fall_back_day() -> None:
    fields = CrontabFields(minute="30", hour="1")
    runs = runs_between(fields, NEW_YORK, utc(2026, 10, 30), utc(2026, 11, 4))
    assert [r.astimezone(NEW_YORK).date().day for r in runs] == [30, 31, 1, 2, 3]
    # The first 01:30 of 1 November is daylight time: 05:30 UTC, not 06:30.
    assert runs[2] == utc(2026, 11, 1, 5, 30)


def test_hourly_job_follows_elapsed_time_through_both_clock_changes() -> None:
    fields = CrontabFields(minute="0")
    for start, end in [
        (utc(2026, 3, 8, 3), utc(2026, 3, 8, 12)),
        (utc(2026, 11, 1, 2), utc(2026, 11, 1, 12)),
    ]:
        runs = runs_between(fields, NEW_YORK, start, end)
        gaps = {b - a for a, b in itertools.pairwise(runs)}
        assert gaps == {timedelta(hours=1)}


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
@pytest.mark.parametrize("minute", ["*/20", "15,45", "0"])
def test_any_hour_jobs_match_a_minute_by_minute_reference_across_dst(
    zone: str, minute: str
) -> None:
    tz = ZoneInfo(zone)
    fields = CrontabFields(minute=minute)
    windows = [
        (utc(2026, 3, 7, 20), utc(2026, 3, 9, 4)),
        (utc(2026, 3, 28, 20), utc(2026, 3, 30, 4)),
        (utc(2026, 4, 4, 10), utc(2026, 4, 5, 20)),
        (utc(2026, 10, 3, 10), utc(2026, 10, 4, 20)),
        (utc(2026, 10, 24, 20), utc(2026, 10, 26, 4)),
        (utc(2026, 10, 31, 20), utc(2026, 11, 2, 4)),
    ]
    for start, end in windows:
        assert runs_between(fields, tz, start, end) == brute_force_runs(fields, tz, start, end)


def test_fixed_hour_jobs_run_exactly_once_a_day_through_a_year_of_clock_changes() -> None:
    for zone in ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe"):
        tz = ZoneInfo(zone)
        for hour in ("1", "2", "3"):
            runs = runs_between(
                CrontabFields(minute="30", hour=hour), tz, utc(2026, 1, 1), utc(2027, 1, 1)
            )
            days = [r.astimezone(tz).date() for r in runs]
            assert len(days) == len(set(days))
            assert len(days) in (364, 365, 366)


def test_day_of_week_counts_from_sunday() -> None:
    fields = CrontabFields(minute="0", hour="9", day_of_week="0")
    run = next_run_after(fields, ZoneInfo("UTC"), utc(2026, 11, 25))
    assert run == utc(2026, 11, 29, 9)
    assert run.weekday() == 6


def test_a_date_that_never_comes_is_an_error() -> None:
    with pytest.raises(ValueError, match="never"):
        CrontabFields(day_of_month="30", month_of_year="2")


def test_an_unparsable_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="61"):
        CrontabFields(minute="61")
    with pytest.raises(ValueError, match="every"):
        CrontabFields(hour="every hour")


def test_schedule_is_due_only_once_its_time_has_come() -> None:
    now = utc(2026, 6, 1, 12, 0, 30)
    schedule = ZonedCrontab(
        CrontabFields(minute="0", hour="12"), ZoneInfo("UTC"), nowfun=lambda: now
    )
    due, next_in = schedule.is_due(utc(2026, 5, 31, 12, 0, 1))
    assert due
    assert next_in == pytest.approx(timedelta(days=1).total_seconds() - 30)
    due, next_in = schedule.is_due(utc(2026, 6, 1, 12, 0, 1))
    assert not due
    assert next_in == pytest.approx(timedelta(days=1).total_seconds() - 30)


def test_schedules_compare_by_fields_and_zone() -> None:
    a = ZonedCrontab(CrontabFields(minute="5"), ZoneInfo("Europe/Berlin"))
    b = ZonedCrontab(CrontabFields(minute="5"), ZoneInfo("Europe/Berlin"))
    c = ZonedCrontab(CrontabFields(minute="5"), ZoneInfo("Europe/Paris"))
    assert a == b
    assert a != c
