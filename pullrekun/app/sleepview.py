"""What the read model says of sleep and cost: who sleeps and why, who is kept awake, office
hours, and what the pool ran this month against its budget."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pullrekun.adapters.state.sleep import RestRecord
from pullrekun.adapters.state.store import Store
from pullrekun.adapters.state.usage import month_key
from pullrekun.config import Config
from pullrekun.core import cost
from pullrekun.core.servers import Server, wish_holds
from pullrekun.core.sleep import Activity
from pullrekun.core.views import EnvironmentView


@dataclass(frozen=True)
class RestView:
    """A sleeping environment, as the last pass left it."""

    pr: int
    #: "idle", "off_hours", "budget" or "requested" (stopped on request).
    kind: str
    since: dt.datetime
    #: When it wakes by itself (office hours opening); None: when something wakes it.
    until: dt.datetime | None
    text: str
    #: Its instance went to a waiting PR: woken, it queues for one.
    without_instance: bool


@dataclass(frozen=True)
class OfficeHours:
    """The pool's ``[schedule]``: open now or not, and the next opening or closing."""

    schedule: str
    open: bool
    next_change: dt.datetime | None
    #: The next change in the schedule's own time zone ("Mon 09:00 Asia/Tokyo").
    next_change_text: str


@dataclass(frozen=True)
class CostView:
    """What the pool's instances ran this month, priced (``[cost]``)."""

    month: str
    currency: str
    hours: float
    amount: float
    #: The monthly budget (0: none), and whether an admin lifted it for this month.
    budget: float
    budget_lifted: bool

    @property
    def over_budget(self) -> bool:
        return bool(self.budget) and self.amount >= self.budget and not self.budget_lifted


@dataclass(frozen=True)
class ServerView:
    """A developer's server on a schedule: its state, its schedule and what comes next."""

    instance_id: str
    name: str
    state: str
    schedule: str
    #: The schedule's next change, and whether it starts (True) or stops (False) the server.
    next_change: dt.datetime | None
    next_start: bool
    #: The next change as the schedule's zone reads it ("Mon 09:00 Asia/Tokyo").
    next_change_text: str
    #: A *Start now* / *Stop now* that holds until then ("start", "stop"), and who asked.
    wish: str | None = None
    wished_by: str | None = None


def server_views(
    cfg: Config, store: Store, servers: tuple[Server, ...], now: dt.datetime
) -> tuple[ServerView, ...]:
    schedules = cfg.named_schedules
    records = store.servers.records() if servers else {}
    views = []
    for server in servers:
        schedule = schedules.get(server.schedule)
        record = records.get(server.instance_id)
        change = schedule.next_change(now) if schedule is not None else None
        holds = schedule is not None and wish_holds(record, schedule, now)
        views.append(
            ServerView(
                server.instance_id,
                server.name,
                server.state,
                server.schedule if schedule is not None else f"{server.schedule} (no such schedule)",
                change,
                schedule is not None and not schedule.is_open(now),
                schedule.local_text(change) if schedule is not None and change is not None else "",
                str(record.wish) if holds and record is not None and record.wish else None,
                record.actor if holds and record is not None else None,
            )
        )
    return tuple(views)


def rest_views(records: Mapping[int, RestRecord]) -> tuple[RestView, ...]:
    return tuple(
        RestView(r.pr_number, str(r.kind), r.since, r.until, r.text, r.without_instance)
        for _, r in sorted(records.items())
    )


def with_sleep_and_cost(
    envs: Mapping[int, EnvironmentView],
    rests: Mapping[int, RestRecord],
    activity: Mapping[int, Activity],
    costs: Mapping[int, cost.PRCost],
    now: dt.datetime,
) -> dict[int, EnvironmentView]:
    """Each environment with why it sleeps, its pin and its running hours."""
    out = {}
    for number, env in envs.items():
        rest, act, spent = rests.get(number), activity.get(number), costs.get(number)
        pinned = act is not None and act.pinned(now)
        out[number] = dataclasses.replace(
            env,
            rest=str(rest.kind) if rest is not None and not rest.without_instance else None,
            rest_text=rest.text if rest is not None else "",
            rest_since=rest.since if rest is not None else None,
            rest_until=rest.until if rest is not None else None,
            pinned_by=act.pinned_by if pinned and act is not None else None,
            pinned_until=act.pinned_until if pinned and act is not None else None,
            hours=round(spent.hours, 2) if spent is not None else 0.0,
            cost=round(spent.amount, 4) if spent is not None else 0.0,
        )
    return out


def pr_costs(cfg: Config, store: Store, numbers: list[int], now: dt.datetime) -> dict[int, cost.PRCost]:
    return cost.per_pr(store.usage.stretches(pr_numbers=numbers), cfg.cost.table, now)


def office_hours(cfg: Config, now: dt.datetime) -> OfficeHours | None:
    schedule = cfg.sleep_policy.schedule
    if schedule is None:
        return None
    change = schedule.next_change(now)
    return OfficeHours(
        schedule.describe(), schedule.is_open(now), change, schedule.local_text(change) if change else ""
    )


def cost_view(cfg: Config, store: Store, now: dt.datetime) -> CostView:
    since = cost.month_start(now)
    stretches = store.usage.stretches(since)
    hours = sum(s.hours(now, since) for s in stretches)
    return CostView(
        month_key(now),
        cfg.cost.currency,
        round(hours, 2),
        round(cost.cost(stretches, cfg.cost.table, now, since), 4),
        cfg.cost.budget,
        bool(cfg.cost.budget) and store.usage.budget_lifted(now),
    )
