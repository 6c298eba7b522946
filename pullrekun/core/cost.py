"""What previews cost: running hours from observed stretches, priced per instance type. Pure.

A stretch (:class:`Stretch`) is opened when a pass first sees an instance running (from EC2's
LaunchTime, the start EC2 itself recorded) and closed when a pass sees it not running; a new
holder (another PR, or none) closes it and opens the next at the pass's time. Hours are never
guessed from what pullrekun asked for, only from what it saw.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from pullrekun.core.model import Instance, InstanceState

CENT = Decimal("0.01")

#: On-demand Linux prices per hour (USD, us-east-1, late 2026) of common types; ``[cost] prices``
#: overrides or adds to them.
DEFAULT_PRICES: Mapping[str, float] = {
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t3a.small": 0.0188,
    "t3a.medium": 0.0376,
    "t3a.large": 0.0752,
    "t4g.small": 0.0168,
    "t4g.medium": 0.0336,
    "t4g.large": 0.0672,
    "m5.large": 0.096,
    "m6i.large": 0.096,
    "m7g.large": 0.0816,
    "c6i.large": 0.085,
    "r6i.large": 0.126,
}


@dataclass(frozen=True)
class Prices:
    table: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    default: float = 0.0
    currency: str = "$"

    def per_hour(self, instance_type: str) -> float:
        return self.table.get(instance_type, self.default)

    def money(self, amount: float) -> str:
        """To the cent, half up (as people round money), after the float's noise is taken off:
        6.5 h at 0.05 is $0.33, not $0.32 for a quotient that came out 0.32499999999999996."""
        cents = Decimal(str(round(amount, 9))).quantize(CENT, rounding=ROUND_HALF_UP)
        return f"{self.currency}{cents:,.2f}"


@dataclass(frozen=True)
class Stretch:
    """One running stretch of an instance, for the PR that held it (None: free)."""

    instance_id: str
    pr_number: int | None
    instance_type: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None

    def hours(
        self, now: dt.datetime, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> float:
        """Hours within [since, until) (open stretches run to ``now``)."""
        start = max(self.started_at, since) if since is not None else self.started_at
        end = self.ended_at or now
        if until is not None:
            end = min(end, until)
        return max(0.0, (end - start).total_seconds() / 3600)


@dataclass(frozen=True)
class UsageChange:
    """Stretches to close (instance id -> end) and to open."""

    close: Mapping[str, dt.datetime] = field(default_factory=dict)
    open: tuple[Stretch, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.close and not self.open


def usage_change(
    open_now: Mapping[str, Stretch],
    instances: Iterable[Instance],
    holders: Mapping[str, int],
    now: dt.datetime,
) -> UsageChange:
    """What one observation of the pool changes in the recorded stretches. ``open_now``: the
    open stretch of each instance; ``holders``: instance -> the PR holding it."""
    close: dict[str, dt.datetime] = {}
    opened: list[Stretch] = []
    running = {i.instance_id: i for i in instances if i.state == InstanceState.RUNNING}
    for iid, stretch in open_now.items():
        if iid not in running:
            close[iid] = max(now, stretch.started_at)
    for iid, inst in sorted(running.items()):
        holder = holders.get(iid)
        current = open_now.get(iid)
        if current is not None and current.pr_number == holder:
            continue
        if current is not None:
            close[iid] = now
            start = now
        else:
            start = min(inst.launched_at or now, now)
        opened.append(Stretch(iid, holder, inst.instance_type, start))
    return UsageChange(close, tuple(opened))


def month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def cost(
    stretches: Sequence[Stretch], prices: Prices, now: dt.datetime, since: dt.datetime | None = None
) -> float:
    return sum(s.hours(now, since) * prices.per_hour(s.instance_type) for s in stretches)


@dataclass(frozen=True)
class PRCost:
    hours: float
    amount: float

    def text(self, prices: Prices) -> str:
        """ "ran 6.5 h, about $0.27", in half-hour steps (a PR comment is edited when it changes)."""
        shown = math.floor(self.hours * 2) / 2
        amount = self.amount * shown / self.hours if self.hours else 0.0
        return f"ran {shown:.1f} h, about {prices.money(amount)}"


def per_pr(stretches: Iterable[Stretch], prices: Prices, now: dt.datetime) -> dict[int, PRCost]:
    """Each PR's running hours and their price, over all its recorded stretches."""
    hours: dict[int, float] = {}
    amount: dict[int, float] = {}
    for s in stretches:
        if s.pr_number is None:
            continue
        h = s.hours(now)
        hours[s.pr_number] = hours.get(s.pr_number, 0.0) + h
        amount[s.pr_number] = amount.get(s.pr_number, 0.0) + h * prices.per_hour(s.instance_type)
    return {n: PRCost(hours[n], amount[n]) for n in hours}
