"""The read model: what every environment and every pool instance looks like now.

Built in one place from the state DB (assignments, recorded outcomes, the queue, GitHub's
rate facts) and the pool as EC2 describes it, without running a pass. ``status`` prints it,
the reports build their per-PR views on it, and the dashboard reads it. ``Snapshot.to_json``
is the documented shape of ``pullrekun status --json``: its JSON Schema is generated from these
types (:mod:`pullrekun.app.status_schema`), versioned by :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pullrekun.adapters import ec2
from pullrekun.adapters.github.client import backoff_until
from pullrekun.adapters.known_hosts import known_hosts_file, learned
from pullrekun.adapters.state.journal import EnvironmentRecord
from pullrekun.adapters.state.notices import NoticeLedger
from pullrekun.adapters.state.pulls import OpenPR
from pullrekun.adapters.state.store import Store
from pullrekun.app.fleetview import FleetView, SweepView, fleet_view, sweep_views
from pullrekun.app.notices import PRODUCTION_PROBLEM, PRODUCTION_READ_AT, PRODUCTION_SHA
from pullrekun.app.pool import read_pool
from pullrekun.app.sleepview import (
    CostView,
    OfficeHours,
    RestView,
    ServerView,
    cost_view,
    office_hours,
    pr_costs,
    rest_views,
    server_views,
    with_sleep_and_cost,
)
from pullrekun.config import Config
from pullrekun.core.model import UP_STATES, Instance, InstanceWish
from pullrekun.core.servers import Server
from pullrekun.core.steps import Step
from pullrekun.core.tagpolicy import Refusal
from pullrekun.core.text import neutralise
from pullrekun.core.views import EnvironmentView, hidden_output

#: Bumped on any change to the JSON shape that is not a new optional field.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class InstanceView:
    """One pool instance: its EC2 state and the PR whose environment it holds, if any."""

    instance_id: str
    state: str
    pr: int | None
    #: What someone asked of it ("running": kept running while free; "retire"), and who.
    wish: str | None = None
    wished_by: str | None = None
    #: How its SSH host key was learned: "console" (checked against what it printed at boot),
    #: "first contact" (accepted blind), or None (not contacted yet).
    host_key: str | None = None
    #: pullrekun launched it (its own records say so); else someone tagged it into the pool.
    managed: bool = False
    #: For a launched instance: when it was asked for, and why.
    launched_at: dt.datetime | None = None
    launch_reason: str | None = None


@dataclass(frozen=True)
class QueueEntry:
    pr: int
    position: int
    since: dt.datetime


@dataclass(frozen=True)
class GitHubFacts:
    """The rate limit as the last pass saw it, and a back-off GitHub asked for, while it lasts."""

    rate_remaining: int | None = None
    rate_limit: int | None = None
    rate_reset: dt.datetime | None = None
    backoff_until: dt.datetime | None = None
    backoff_reason: str | None = None


@dataclass(frozen=True)
class ReleaseFacts:
    """Where production is as the last pass read it, and what the release notices did."""

    production_sha: str | None = None
    read_at: dt.datetime | None = None
    #: Why the last pass could not read production's sha (nothing was concluded), or None.
    problem: str | None = None
    #: The newest production move recorded: first, release, rollback or unlinked.
    last_move: str | None = None
    last_move_sha: str | None = None
    last_move_at: dt.datetime | None = None
    #: Sends waiting for a pass (a failed one is retried).
    unsent: int = 0
    #: Sends a pass died in the middle of, on a channel that cannot be asked twice (never resent).
    uncertain: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchemaDropView:
    """A closed environment's schema a pass recorded to drop and no pass has dropped yet."""

    instance_id: str
    schema: str
    since: dt.datetime


@dataclass(frozen=True)
class Snapshot:
    pool: str
    environments: tuple[EnvironmentView, ...]
    instances: tuple[InstanceView, ...]
    queue: tuple[QueueEntry, ...]
    github: GitHubFacts
    #: Why EC2 could not be read (instances are then "unknown"); None when it was.
    ec2_problem: str | None = None
    #: Instances tagged into the pool that pullrekun refuses to touch, and why (tag policy).
    refused: tuple[Refusal, ...] = ()
    #: Instances someone asked to tag into the pool (the next pass does it).
    registering: tuple[str, ...] = ()
    #: Release notices (None without a ``[release]`` section).
    release: ReleaseFacts | None = None
    #: Schemas of closed environments waiting to be dropped (``on_close = "drop"``).
    schema_drops: tuple[SchemaDropView, ...] = ()
    #: Launches (None when launching is off and never was on).
    fleet: FleetView | None = None
    #: What the orphan sweep and scale-in did lately (instances stopped for nobody, terminated).
    sweeps: tuple[SweepView, ...] = ()
    #: Environments asleep as the last pass left them (those whose instance went to a waiting PR
    #: included), and why.
    sleeping: tuple[RestView, ...] = ()
    #: The pool's office hours (None without ``[schedule]``).
    office_hours: OfficeHours | None = None
    #: What the pool ran this month, priced, against its budget.
    cost: CostView | None = None
    #: Developers' servers on a schedule (``pullrekun:schedule=<name>``).
    servers: tuple[ServerView, ...] = ()
    #: Every open PR as the last pass told its people: its state and why (a draft, a fork
    #: awaiting approval, opted out: what would change that), and its test scenario.
    pull_requests: tuple[OpenPR, ...] = ()

    def environment(self, pr: int) -> EnvironmentView | None:
        return next((e for e in self.environments if e.pr == pr), None)

    def without_output(self) -> Snapshot:
        """This snapshot as people who may not see a failure's output read it."""
        envs = tuple(dataclasses.replace(e, message=hidden_output(e.message)) for e in self.environments)
        return dataclasses.replace(self, environments=envs)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **_plain(dataclasses.asdict(self))}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str):  # StrEnum members become plain strings
        return str(value)
    return value


def environment_views(
    cfg: Config, records: Iterable[EnvironmentRecord], instances: Mapping[str, Instance] | None
) -> dict[int, EnvironmentView]:
    """Every environment by PR; ``instances`` None means EC2 could not be read."""
    views = {}
    for rec in records:
        asg = rec.assignment
        inst = instances.get(asg.instance_id) if instances is not None else None
        state = str(inst.state) if inst is not None else ("unknown" if instances is None else "gone")
        views[asg.pr_number] = EnvironmentView(
            pr=asg.pr_number,
            instance_id=asg.instance_id,
            instance_state=state,
            status=asg.status,
            sha=asg.deployed_sha,
            since=asg.since or rec.assigned_at,
            url=cfg.url_for(inst.ansible_host, inst.url, asg.pr_number) if inst is not None else "",
            # Rows from before step ids were recorded name no step: the whole deploy.
            failed_step=rec.failed_step or (Step.DEPLOY if rec.failed_task else None),
            failed_task=rec.failed_task,
            message=rec.message,
            db_schema=rec.db_schema,
            db_source=asg.db_source,
            db_cloned_at=rec.db_cloned_at,
            asleep=asg.asleep,
            title=neutralise(rec.title or ""),
            author=rec.author or "",
            running_since=inst.launched_at if inst is not None and inst.state in UP_STATES else None,
            schema_changes=rec.schema_changes,
            settings=tuple(f"{name}={value}" for name, value in asg.settings),
        )
    return views


def github_facts(store: Store, now: dt.datetime) -> GitHubFacts:
    facts = store.github_facts.read()
    until = backoff_until(facts, now)
    if not facts.get("rate_remaining", "").isdigit():
        return GitHubFacts(backoff_until=until, backoff_reason=facts.get("backoff_reason") if until else None)
    reset = facts.get("rate_reset", "")
    return GitHubFacts(
        rate_remaining=int(facts["rate_remaining"]),
        rate_limit=int(facts["rate_limit"]) if facts.get("rate_limit", "").isdigit() else None,
        rate_reset=dt.datetime.fromtimestamp(int(reset), dt.UTC) if reset.isdigit() else None,
        backoff_until=until,
        backoff_reason=facts.get("backoff_reason") if until else None,
    )


def release_facts(store: Store) -> ReleaseFacts:
    facts = store.release_facts.read()
    ledger = NoticeLedger(store)
    last = ledger.last_move()
    read_at = facts.get(PRODUCTION_READ_AT)
    return ReleaseFacts(
        production_sha=facts.get(PRODUCTION_SHA),
        read_at=dt.datetime.fromisoformat(read_at) if read_at else None,
        problem=facts.get(PRODUCTION_PROBLEM),
        last_move=last.kind if last else None,
        last_move_sha=last.sha if last else None,
        last_move_at=last.created_at if last else None,
        unsent=len(ledger.unsent()),
        uncertain=tuple(send.error or f"notice {n.id} to {send.channel}" for n, send in ledger.unknown()),
    )


def snapshot(
    cfg: Config,
    store: Store,
    now: dt.datetime | None = None,
    instances: Mapping[str, Instance] | None = None,
    pool_problem: str | None = None,
    servers: tuple[Server, ...] = (),
) -> Snapshot:
    """The read model now. The pool is read from EC2 unless ``instances`` is given, or
    ``pool_problem`` says why it could not be read (a caller that reads the pool itself)."""
    problem = pool_problem
    refused: tuple[Refusal, ...] = ()
    if instances is None and problem is None:
        try:
            reading = read_pool(cfg, store.requests.edited_authors())
            instances, refused, servers = reading.by_id(), reading.refused, reading.servers
        except ec2.EC2Unavailable as exc:
            problem = str(exc)
    when = now or dt.datetime.now(dt.UTC)
    rests = store.sleep.rests()
    envs = environment_views(cfg, store.journal.environments(), instances)
    envs = with_sleep_and_cost(
        envs, rests, store.sleep.activity(), pr_costs(cfg, store, list(envs), when), when
    )
    by_instance = {e.instance_id: e.pr for e in envs.values()}
    seen = set(instances or ()) | set(by_instance)
    wishes = {r.instance_id: r for r in store.requests.instance_wishes()}
    keys = learned(known_hosts_file(cfg))
    launched = {r.instance_id: r for r in store.fleet.records() if r.instance_id is not None}
    pool = tuple(
        InstanceView(
            iid,
            str(instances[iid].state)
            if instances and iid in instances
            else ("unknown" if problem else "gone"),
            by_instance.get(iid),
            wishes[iid].wish.value if iid in wishes else None,
            wishes[iid].actor if iid in wishes else None,
            keys.get(iid) if cfg.ansible.connection == "ssh" else None,
            iid in launched,
            launched[iid].requested_at if iid in launched else None,
            launched[iid].reason if iid in launched else None,
        )
        for iid in sorted(seen)
    )
    registering = tuple(
        iid for iid, r in sorted(wishes.items()) if r.wish == InstanceWish.REGISTER and iid not in seen
    )
    return Snapshot(
        pool=cfg.ec2.pool,
        environments=tuple(envs[pr] for pr in sorted(envs)),
        instances=pool,
        queue=tuple(QueueEntry(pr, pos, since) for pr, pos, since in store.journal.queue()),
        github=github_facts(store, when),
        ec2_problem=problem,
        refused=refused,
        registering=registering,
        release=release_facts(store) if cfg.release is not None else None,
        schema_drops=tuple(SchemaDropView(*row) for row in store.journal.schema_drops_since()),
        fleet=fleet_view(cfg, store, instances if problem is None else None),
        sweeps=sweep_views(store),
        sleeping=rest_views(rests),
        office_hours=office_hours(cfg, when),
        cost=cost_view(cfg, store, when),
        servers=server_views(cfg, store, servers, when),
        pull_requests=store.pulls.all(),
    )


#: Event kinds whose message carries a failure's output (printed by the PR's code).
OUTPUT_EVENTS = frozenset({"deploy_failed", "run_failed"})


@dataclass(frozen=True)
class EventView:
    """One line of the activity log as a reader sees it."""

    at: dt.datetime
    kind: str
    pr_number: int | None
    instance_id: str | None
    actor: str | None
    message: str


def event_views(store: Store, limit: int, hide_output: bool) -> tuple[EventView, ...]:
    """The newest events; with ``hide_output``, failures say what failed but not their output."""
    return tuple(
        EventView(
            e.at,
            e.kind,
            e.pr_number,
            e.instance_id,
            e.actor,
            (hidden_output(e.message) or "") if hide_output and e.kind in OUTPUT_EVENTS else e.message,
        )
        for e in store.events.recent(limit=limit)
    )


@dataclass(frozen=True)
class DeployView:
    """An instance's latest deployment (the pool table's "last deploy")."""

    pr_number: int
    sha: str
    status: str
    started_at: dt.datetime


def last_deploys(store: Store) -> dict[str, DeployView]:
    return {
        iid: DeployView(d.pr_number, d.sha, d.status, d.started_at)
        for iid, d in store.journal.last_deployments().items()
    }
