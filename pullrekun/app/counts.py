"""Where things stand, counted: what ``/metrics`` exports from the state DB."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pullrekun.adapters.state.store import Store
from pullrekun.app.fleetview import SWEEP_EVENTS
from pullrekun.core.cost import month_start
from pullrekun.core.model import EnvStatus
from pullrekun.core.sleep import RestKind


@dataclass(frozen=True)
class Counts:
    """Where things stand, counted (``/metrics``)."""

    #: Environments by state (``asleep`` for those stopped until woken).
    environments: Mapping[str, int]
    queued: int
    rate_remaining: int | None
    #: Schemas of closed environments waiting to be dropped.
    schema_drops: int = 0
    #: Live instances pullrekun launched; launches asked for and not seen yet; failed launches
    #: waiting for their retry.
    managed: int = 0
    launches_in_flight: int = 0
    launches_failed: int = 0
    #: What the orphan sweep and scale-in did in the last 24 hours (stops, terminations).
    swept_last_day: int = 0
    #: Environments asleep by why (idle, off_hours, budget, requested), as the last pass left them.
    sleeping: Mapping[str, int] = dataclasses.field(default_factory=dict)
    #: Hours the pool's instances ran this month (UTC), as passes observed them.
    instance_hours_month: float = 0.0


def counts(store: Store, now: dt.datetime | None = None) -> Counts:
    by_state = {state: 0 for state in (*(str(s) for s in EnvStatus), "asleep")}
    for env in store.journal.environments():
        by_state["asleep" if env.assignment.asleep else str(env.assignment.status)] += 1
    remaining = store.github_facts.read().get("rate_remaining", "")
    rate = int(remaining) if remaining.isdigit() else None
    launches = store.fleet.records()
    when = now or dt.datetime.now(dt.UTC)
    sleeping = {str(kind): 0 for kind in RestKind}
    for rest in store.sleep.rests().values():
        sleeping[str(rest.kind)] += 1
    since = month_start(when)
    return Counts(
        by_state,
        len(store.journal.queue()),
        rate,
        len(store.journal.schema_drops()),
        managed=sum(1 for r in launches if r.instance_id is not None),
        launches_in_flight=sum(1 for r in launches if r.pending),
        launches_failed=sum(1 for r in launches if r.instance_id is None and r.failure is not None),
        swept_last_day=store.events.count_since(SWEEP_EVENTS, when - dt.timedelta(days=1)),
        sleeping=sleeping,
        instance_hours_month=round(sum(s.hours(when, since) for s in store.usage.stretches(since)), 3),
    )
