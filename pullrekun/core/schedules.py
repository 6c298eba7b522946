"""Office hours: on which days, from when to when, in which time zone, minus which holidays.

Pure: the time zone arrives as a ``tzinfo`` (the config builds it with ``zoneinfo``), so a
schedule honours daylight-saving changes without this module reading the zone database. Each
open day's window is taken in local time and turned into UTC on its own day, so "09:00" stays
09:00 on both sides of a DST change (and the window of the change's day is an hour shorter or
longer in UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: How far ahead an opening is looked for (a schedule with every day a holiday has none).
_HORIZON_DAYS = 400
#: How far back the last opening or closing is looked for.
_LOOKBACK_DAYS = 31


def _local(day: dt.date, at: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """``at`` on ``day`` in ``zone``, as a UTC instant. A time skipped by a DST change (02:30 on a
    spring-forward night) is taken with the offset before the change, as Python's fold=0 does."""
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class Schedule:
    """One named schedule: open on ``days`` (0 = Monday) from ``start`` to ``end`` local time
    (``end`` at or before ``start``: the window runs past midnight), closed on ``holidays``."""

    name: str
    days: frozenset[int]
    start: dt.time
    end: dt.time
    zone: dt.tzinfo = dt.UTC
    zone_name: str = "UTC"
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def windows(self, first: dt.date, last: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The open windows of the days ``first`` to ``last`` (local dates), in UTC, in order."""
        found = []
        day = first
        while day <= last:
            if day.weekday() in self.days and day not in self.holidays:
                opens = _local(day, self.start, self.zone)
                end_day = day if self.end > self.start else day + dt.timedelta(days=1)
                closes = _local(end_day, self.end, self.zone)
                if closes > opens:
                    found.append((opens, closes))
            day += dt.timedelta(days=1)
        return found

    def _around(self, now: dt.datetime, ahead: int) -> list[tuple[dt.datetime, dt.datetime]]:
        today = now.astimezone(self.zone).date()
        return self.windows(today - dt.timedelta(days=2), today + dt.timedelta(days=ahead))

    def is_open(self, now: dt.datetime) -> bool:
        return any(opens <= now < closes for opens, closes in self._around(now, 1))

    def last_change(self, now: dt.datetime) -> dt.datetime | None:
        """The latest opening or closing at or before ``now`` (None: none in the last days)."""
        today = now.astimezone(self.zone).date()
        edges = [
            edge
            for window in self.windows(
                today - dt.timedelta(days=_LOOKBACK_DAYS), today + dt.timedelta(days=1)
            )
            for edge in window
            if edge <= now
        ]
        return max(edges, default=None)

    def next_change(self, now: dt.datetime) -> dt.datetime | None:
        """The next opening (while closed) or closing (while open) after ``now``; None: never."""
        for opens, closes in self._around(now, _HORIZON_DAYS):
            if opens > now:
                return opens
            if closes > now:
                return closes
        return None

    def local_text(self, when: dt.datetime) -> str:
        """``when`` as people in the schedule's zone read it: "Mon 09:00 Asia/Tokyo"."""
        local = when.astimezone(self.zone)
        return f"{DAY_NAMES[local.weekday()]} {local:%H:%M} {self.zone_name}"

    def describe(self) -> str:
        """The schedule in one line: "Mon-Fri 09:00-19:00 Asia/Tokyo (2 holidays)"."""
        days = sorted(self.days)
        if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            day_text = f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
        else:
            day_text = ",".join(DAY_NAMES[d] for d in days) or "no day"
        text = f"{day_text} {self.start:%H:%M}-{self.end:%H:%M} {self.zone_name}"
        if self.holidays:
            text += f" ({len(self.holidays)} holiday{'s' if len(self.holidays) != 1 else ''})"
        return text
