"""Instants are timezone-aware UTC datetimes everywhere in the scheduler."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


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


# An instant from a client: with an explicit offset, converted to UTC on the way in.
UtcInstant = Annotated[AwareDatetime, AfterValidator(_representable_in_utc)]
