"""Instants are timezone-aware UTC datetimes everywhere in the scheduler."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

_DATE_TIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive value is taken to be UTC already (as SQLite returns it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _representable_in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        # 0001-01-01T00:00+01:00 is valid ISO 8601 but falls before year 1 in UTC.
        raise ValueError("must fall between years 1 and 9999 in UTC") from exc


def _date_time_text(value: object) -> object:
    # The schema says an RFC 3339 date-time string; pydantic would also read a number, or a
    # string of digits, as seconds since 1970.
    if isinstance(value, int | float) or (
        isinstance(value, str) and _DATE_TIME_START.match(value) is None
    ):
        raise ValueError("must be an RFC 3339 date-time such as 2030-01-01T09:00:00Z")
    return value


# An instant from a client: with an explicit offset, converted to UTC on the way in.
UtcInstant = Annotated[
    AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_representable_in_utc)
]
