"""The four kinds of schedule a periodic task can have, validated, and their Celery form."""

from datetime import timedelta
from importlib.resources import files
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery import Celery
from celery.schedules import BaseSchedule, schedule, solar
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from common.clock import utcnow
from scheduler.clocked import ClockedSchedule
from scheduler.instants import UtcInstant
from scheduler.zoned_crontab import CrontabFields, ZonedCrontab, next_run_after

SOLAR_EVENTS = Literal[
    "dawn_astronomical",
    "dawn_nautical",
    "dawn_civil",
    "sunrise",
    "solar_noon",
    "sunset",
    "dusk_civil",
    "dusk_nautical",
    "dusk_astronomical",
]
CronField = Annotated[str, Field(min_length=1, max_length=200)]
# Beat adds the interval to the last run; far beyond this the date overflows year 9999.
MAX_INTERVAL = timedelta(days=36_500)
# Validation context of a spec read back from the database (`schedule_from_json`).
STORED = "stored"


def _zone_names() -> frozenset[str]:
    """The IANA zone names, as the tzdata package lists them.

    Not `zoneinfo.available_timezones()`: it adds every TZif file under the system's zoneinfo
    directories, "localtime" among them, which is whatever zone that machine's clock is set to.
    "Factory" is IANA's placeholder for "zone not configured yet", not a place.
    """
    listing = files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listing.split()) - {"Factory"}


ZONE_NAMES = _zone_names()


class IntervalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["interval"]
    every: StrictInt = Field(ge=1, le=10_000_000)
    period: Literal["days", "hours", "minutes", "seconds"] = "seconds"

    @model_validator(mode="after")
    def _at_most_a_century(self) -> "IntervalSpec":
        if self.delta() > MAX_INTERVAL:
            raise ValueError(f"the interval must be at most {MAX_INTERVAL.days} days")
        return self

    def delta(self) -> timedelta:
        return timedelta(**{self.period: self.every})


class CrontabSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["crontab"]
    minute: CronField = "*"
    hour: CronField = "*"
    day_of_week: CronField = "*"
    day_of_month: CronField = "*"
    month_of_year: CronField = "*"
    timezone: str = Field(
        "UTC",
        min_length=1,
        max_length=64,
        description="An IANA time zone name, such as 'Europe/Paris' or 'UTC'; names that depend "
        "on the server ('localtime') or are not IANA names ('posix/...', 'right/...') are refused.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str, info: ValidationInfo) -> str:
        # A row stored before the check narrowed to IANA names must still be readable.
        stored = bool(info.context and info.context.get(STORED))
        if not stored and value not in ZONE_NAMES:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris'"
            )
        try:
            ZoneInfo(value)
        # OSError: a key naming a directory of the zone database, such as "America".
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _fields_parse_and_fire(self) -> "CrontabSpec":
        for name in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year"):
            try:
                CrontabFields(**{name: getattr(self, name)})
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        # Fields valid one by one can still never meet (30 February).
        try:
            next_run_after(self.fields(), self.zone(), utcnow())
        except ValueError as exc:
            raise ValueError(f"the crontab never fires: {exc}") from exc
        return self

    def fields(self) -> CrontabFields:
        return CrontabFields(
            self.minute, self.hour, self.day_of_week, self.day_of_month, self.month_of_year
        )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SolarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["solar"]
    event: SOLAR_EVENTS
    latitude: StrictFloat = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: StrictFloat = Field(ge=-180, le=180, allow_inf_nan=False)


class ClockedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["clocked"]
    run_at: UtcInstant


ScheduleSpec = Annotated[
    IntervalSpec | CrontabSpec | SolarSpec | ClockedSpec, Field(discriminator="type")
]


def to_celery_schedule(spec: ScheduleSpec, app: Celery) -> BaseSchedule:
    """The Celery schedule object beat evaluates for `spec`."""
    match spec:
        case IntervalSpec():
            return schedule(spec.delta(), app=app)
        case CrontabSpec():
            return ZonedCrontab(spec.fields(), spec.zone(), app=app)
        case SolarSpec():
            return solar(spec.event, spec.latitude, spec.longitude, app=app)
        case ClockedSpec():
            return ClockedSchedule(spec.run_at, app=app)


SCHEDULE_ADAPTER: TypeAdapter[ScheduleSpec] = TypeAdapter(ScheduleSpec)


def schedule_from_json(data: dict[str, Any]) -> ScheduleSpec:
    """A stored schedule back as its spec. Stored ones were validated on the way in, by the rules
    of their day: a zone name refused since (such as "localtime") still reads back."""
    return SCHEDULE_ADAPTER.validate_python(data, context={STORED: True})
