from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.schedules import schedule, solar
from pydantic import ValidationError

from scheduler.clocked import ClockedSchedule
from scheduler.schedule_specs import SCHEDULE_ADAPTER, schedule_from_json, to_celery_schedule
from scheduler.zoned_crontab import ZonedCrontab
from tasks.celery_app import process_app

celery_app = process_app()

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def spec(data: dict[str, Any]) -> Any:
    return SCHEDULE_ADAPTER.validate_python(data)


def test_interval_becomes_a_celery_interval_of_that_length() -> None:
    converted = to_celery_schedule(
        spec({"type": "interval", "every": 90, "period": "minutes"}), celery_app
    )
    assert isinstance(converted, schedule)
    assert converted.run_every == timedelta(minutes=90)


def test_crontab_becomes_a_zoned_crontab_in_its_time_zone() -> None:
    converted = to_celery_schedule(
        spec({"type": "crontab", "minute": "0", "hour": "9", "timezone": "Asia/Tokyo"}), celery_app
    )
    assert isinstance(converted, ZonedCrontab)
    assert converted.zone.key == "Asia/Tokyo"
    # 09:00 in Tokyo is 00:00 UTC.
    assert converted.next_after(NOW) == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)


def test_solar_becomes_a_celery_solar_event_at_those_coordinates() -> None:
    converted = to_celery_schedule(
        spec({"type": "solar", "event": "sunrise", "latitude": 48.85, "longitude": 2.35}),
        celery_app,
    )
    assert isinstance(converted, solar)
    assert converted.event == "sunrise"
    assert (converted.lat, converted.lon) == (48.85, 2.35)
    converted.nowfun = lambda: NOW
    assert timedelta(0) < converted.remaining_estimate(NOW) <= timedelta(days=1)


def test_clocked_fires_once_when_its_time_has_come() -> None:
    run_at = NOW - timedelta(seconds=5)
    converted = to_celery_schedule(
        spec({"type": "clocked", "run_at": run_at.isoformat()}), celery_app
    )
    assert isinstance(converted, ClockedSchedule)
    converted.nowfun = lambda: NOW
    assert converted.is_due(None).is_due
    assert not converted.is_due(NOW).is_due
    early = ClockedSchedule(NOW + timedelta(minutes=1), nowfun=lambda: NOW)
    due, next_in = early.is_due(None)
    assert not due
    assert next_in == pytest.approx(60)


def test_the_longest_interval_is_a_century_which_beat_can_still_count_forward() -> None:
    longest = to_celery_schedule(
        spec({"type": "interval", "every": 36_500, "period": "days"}), celery_app
    )
    longest.nowfun = lambda: NOW
    assert not longest.is_due(NOW).is_due


def test_stored_specs_round_trip_with_their_defaults() -> None:
    stored = spec({"type": "crontab", "minute": "*/15"}).model_dump(mode="json")
    assert stored == {
        "type": "crontab",
        "minute": "*/15",
        "hour": "*",
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": "UTC",
    }
    assert schedule_from_json(stored) == spec(stored)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "crontab", "timezone": "Nowhere/Atlantis"}, "unknown time zone"),
        ({"type": "crontab", "timezone": "America"}, "unknown time zone"),
        ({"type": "crontab", "timezone": "localtime"}, "use an IANA name"),
        ({"type": "crontab", "timezone": "Factory"}, "use an IANA name"),
        ({"type": "crontab", "timezone": "europe/paris"}, "use an IANA name"),
        ({"type": "crontab", "day_of_week": "funday"}, "day_of_week"),
        ({"type": "crontab", "day_of_month": "30", "month_of_year": "2"}, "never"),
        ({"type": "clocked", "run_at": "2030-01-01T00:00:00"}, "timezone"),
        ({"type": "interval", "every": 1, "period": "seconds", "extra": 1}, "extra"),
        ({"type": "interval", "every": 36_501, "period": "days"}, "at most 36500 days"),
        ({"type": "interval", "every": 10_000_000, "period": "hours"}, "at most 36500 days"),
    ],
)
def test_invalid_specs_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(data)
