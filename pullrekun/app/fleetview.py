"""The fleet in the read model: what pullrekun launched and why, what became of each launch,
and what the orphan sweep did (with or without launching). ``status``, the dashboard and
``/metrics`` read it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pullrekun.adapters.state.store import Store
from pullrekun.config import Config
from pullrekun.core.model import Instance


@dataclass(frozen=True)
class LaunchView:
    """One launch: in flight, failed (with why and when it is tried again), live, or ended."""

    token: str
    reason: str
    requested_at: dt.datetime
    #: "in flight" (asked, no instance seen yet), "failed", the instance's EC2 state, "gone" (not
    #: in the pool any more) or "terminated".
    state: str
    instance_id: str | None = None
    attempts: int = 1
    failure: str | None = None
    retry_at: dt.datetime | None = None
    bootstrapped_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    end_reason: str | None = None
    #: EC2 refused to terminate it (termination protection): kept, and never asked again.
    protected: bool = False


@dataclass(frozen=True)
class SweepView:
    """Something the orphan sweep did: an instance stopped for nobody, or terminated."""

    at: dt.datetime
    instance_id: str | None
    kind: str
    message: str


@dataclass(frozen=True)
class FleetView:
    launch_template: str
    min_size: int
    max_size: int
    #: The newest launches first (live and ended).
    launches: tuple[LaunchView, ...] = ()

    @property
    def in_flight(self) -> int:
        return sum(1 for launch in self.launches if launch.state == "in flight")

    @property
    def failed(self) -> int:
        return sum(1 for launch in self.launches if launch.state == "failed")


#: Event kinds that tell what the sweep and scale-in did.
SWEEP_EVENTS = frozenset({"swept", "terminated", "terminate_refused"})


def _state(
    ended: bool, instance_id: str | None, failure: str | None, instances: Mapping[str, Instance] | None
) -> str:
    if ended:
        return "terminated"
    if instance_id is None:
        return "failed" if failure else "in flight"
    if instances is None:
        return "unknown"
    found = instances.get(instance_id)
    return str(found.state) if found is not None else "gone"


def fleet_view(
    cfg: Config, store: Store, instances: Mapping[str, Instance] | None, limit: int = 20
) -> FleetView | None:
    """The fleet as it stands (None when launching is off and nothing was ever launched)."""
    history = store.fleet.history(limit)
    if not cfg.ec2.launch_template and not history:
        return None
    launches = tuple(
        LaunchView(
            h.token,
            h.reason,
            h.requested_at,
            _state(h.terminated_at is not None, h.instance_id, h.failure, instances),
            h.instance_id,
            h.attempts,
            h.failure,
            h.retry_at,
            h.bootstrapped_at,
            h.terminated_at,
            h.end_reason,
            h.protected,
        )
        for h in history
    )
    return FleetView(cfg.ec2.launch_template, cfg.ec2.min_size, cfg.ec2.max_size, launches)


def sweep_views(store: Store, limit: int = 10) -> tuple[SweepView, ...]:
    """What the orphan sweep and scale-in did lately, newest first."""
    found = store.events.recent(limit, kinds=SWEEP_EVENTS)
    return tuple(SweepView(e.at, e.instance_id, e.kind, e.message) for e in found)
