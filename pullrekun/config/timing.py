"""The sections that decide when instances run and what they cost: ``[sleep]``, ``[schedule]``
(the pool's office hours), ``[schedules.<name>]`` (developers' own servers) and ``[cost]``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, StrictStr, field_validator
from pydantic.dataclasses import dataclass

from pullrekun.config.sections import SECTION
from pullrekun.config.types import Bool, Str, TimeZone
from pullrekun.core.cost import DEFAULT_PRICES, Prices
from pullrekun.core.schedules import DAY_NAMES, Schedule

field = dataclasses.field

_DURATION_RE = re.compile(r"\A([0-9]{1,6})([smhd])\Z")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TIME_RE = re.compile(r"\A([01][0-9]|2[0-3]):([0-5][0-9])\Z")
_DAY_INDEX = {name.lower(): i for i, name in enumerate(DAY_NAMES)}
_NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,31}\Z")


def duration_seconds(value: str | int) -> int:
    """ "8h", "30m", "2d", "90s" or whole seconds; "" or 0: off. Raises ValueError saying how."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if value == "":
        return 0
    match = _DURATION_RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration: use e.g. 90s, 30m, 8h or 2d")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _duration(value: str | int) -> str | int:
    duration_seconds(value)
    return value


Duration = Annotated[StrictStr | StrictInt, AfterValidator(_duration)]


def parse_days(values: tuple[str, ...]) -> frozenset[int]:
    """("Mon-Fri", "Sun") -> {0, 1, 2, 3, 4, 6}; ValueError names a day it does not know."""
    days: set[int] = set()
    for value in values:
        first, _, last = value.strip().lower().partition("-")
        if first not in _DAY_INDEX or (last and last not in _DAY_INDEX):
            raise ValueError(f"{value!r} is not a day or range of days (Mon, Tue, ... Sun; Mon-Fri)")
        start, end = _DAY_INDEX[first], _DAY_INDEX[last or first]
        if end < start:
            raise ValueError(f"{value!r} runs backwards: write it as two ranges")
        days.update(range(start, end + 1))
    return frozenset(days)


def _clock(value: str) -> dt.time:
    match = _TIME_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a time of day: use HH:MM, 24-hour")
    return dt.time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, config=SECTION)
class ScheduleConfig:
    """Office hours: open on ``days`` from ``start`` to ``end`` in ``time_zone`` (an IANA name;
    daylight-saving changes are honoured), closed on ``holidays`` ("2026-12-25")."""

    days: tuple[Str, ...] = ("Mon-Fri",)
    start: Str = "09:00"
    end: Str = "19:00"
    time_zone: TimeZone = "UTC"
    holidays: tuple[Str, ...] = ()

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not parse_days(value):
            raise ValueError("must name at least one day")
        return value

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        _clock(value)
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for day in value:
            try:
                dt.date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"{day!r} is not a date: use YYYY-MM-DD") from None
        return value

    def schedule(self, name: str) -> Schedule:
        return Schedule(
            name,
            parse_days(self.days),
            _clock(self.start),
            _clock(self.end),
            zoneinfo.ZoneInfo(self.time_zone),
            self.time_zone,
            frozenset(dt.date.fromisoformat(d) for d in self.holidays),
        )


def _schedule_names(value: dict[str, ScheduleConfig]) -> dict[str, ScheduleConfig]:
    for name in value:
        if not _NAME_RE.match(name):
            raise ValueError(f"{name!r} is not a schedule name (lower-case letters, digits, - and _)")
    return value


NamedSchedules = Annotated[dict[StrictStr, ScheduleConfig], AfterValidator(_schedule_names)]


@dataclass(frozen=True, config=SECTION)
class SleepConfig:
    """Idle sleep: an environment with no push, visit of its link or action for ``after`` is
    stopped (it keeps its instance) until something wakes it."""

    #: "8h", "30m"... ("" or 0: environments never sleep for idleness).
    after: Duration = ""
    #: The PR label that keeps an environment awake (idle sleep and office hours); "" for none.
    keep_label: Str = "preview:keep"
    #: A sleeping environment hands its instance to the oldest waiting PR, and queues again
    #: once woken.
    hand_over: Bool = True

    @property
    def after_delta(self) -> dt.timedelta | None:
        seconds = duration_seconds(self.after)
        return dt.timedelta(seconds=seconds) if seconds else None


Price = Annotated[StrictFloat, Field(ge=0)]


@dataclass(frozen=True, config=SECTION)
class CostConfig:
    """What instances cost: ``prices`` (instance type -> price per hour) over pullrekun's default
    table of common types; ``budget`` a month for the pool (0: none), past which nothing is
    started or launched until an admin lifts it for the month."""

    prices: dict[Str, Price] = field(default_factory=dict)
    #: The price of a type in neither table (0: unknown types cost nothing in the estimates).
    default_price: Price = 0.0
    currency: Annotated[Str, Field(min_length=1, max_length=4)] = "$"
    budget: Price = 0.0

    @property
    def table(self) -> Prices:
        return Prices({**DEFAULT_PRICES, **self.prices}, self.default_price, self.currency)
