"""The planner's fleet rules: which launches to make or retry, which launched instance to adopt,
replace or terminate. Pure, like the planner that calls them (:func:`pullrekun.core.planner.plan`).

The pool's size is what EC2 shows in it (refused instances not counted) plus the launches in
flight (asked for, no instance seen yet). A pass killed after EC2 answered leaves a recorded
launch whose instance carries the launch's tag: it is adopted, never launched again. A launch
that failed is retried with back-off, and while one waits for its retry no new launch is made:
a broken template or a quota is one problem said once, not a launch per pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pullrekun.core.fleet import (
    AdoptLaunch,
    FleetPolicy,
    ForgetLaunch,
    ForgetLaunchRequest,
    LaunchInstance,
    LaunchRecord,
    LaunchRequest,
    Recycle,
    TerminateInstance,
    launch_token,
)
from pullrekun.core.model import (
    Action,
    ForgetInstanceRequest,
    Instance,
    InstanceRequest,
    InstanceState,
    InstanceWish,
    Observed,
    QueuedPR,
)


@dataclass(frozen=True)
class Managed:
    """The pool's instances pullrekun launched, by id, and the launches adopted this pass."""

    records: Mapping[str, LaunchRecord]
    adopt: tuple[AdoptLaunch, ...] = ()

    def needs_bootstrap(self) -> frozenset[str]:
        return frozenset(iid for iid, r in self.records.items() if not r.bootstrapped)


def managed(instances: Iterable[Instance], launches: Sequence[LaunchRecord]) -> Managed:
    """Which instances are managed: recorded by id, or tagged with a recorded launch's token and
    adopted now. A token tag that no record holds (a hand edit, a lost state DB) makes nothing
    managed."""
    by_token = {r.token: r for r in launches}
    by_id = {r.instance_id: r for r in launches if r.instance_id is not None}
    records: dict[str, LaunchRecord] = {}
    adopt: list[AdoptLaunch] = []
    for inst in instances:
        record = by_id.get(inst.instance_id)
        if record is None and inst.launch_token:
            found = by_token.get(inst.launch_token)
            if found is not None and found.instance_id is None:
                record = dataclasses.replace(found, instance_id=inst.instance_id, failure=None)
                adopt.append(AdoptLaunch(found.token, inst.instance_id))
        if record is not None:
            records[inst.instance_id] = record
    return Managed(records, tuple(adopt))


def replaced(
    policy: FleetPolicy,
    fleet: Managed,
    held: Collection[str],
    released: Collection[str],
    untrusted: Collection[str],
) -> tuple[list[TerminateInstance], list[str]]:
    """Free managed instances that are replaced rather than handed on (``ec2.recycle``), and
    notes for those termination protection keeps."""
    if policy.recycle == Recycle.NEVER:
        return [], []
    doomed: list[TerminateInstance] = []
    notes: list[str] = []
    for iid, record in sorted(fleet.records.items()):
        if iid in held:
            continue
        if iid in untrusted:
            why = "ran code of a PR not trusted by default: replaced, never handed on"
        elif policy.recycle == Recycle.ALWAYS and (record.served or iid in released):
            why = "served a PR: replaced (ec2.recycle = always)"
        else:
            continue
        if record.protected:
            kept = "termination protection is on: wiped instead"
            notes.append(f"instance {iid} {why.split(':')[0]}, but {kept}")
            continue
        doomed.append(TerminateInstance(iid, why))
    return doomed, notes


def asked_to_end(
    wishes: Mapping[str, InstanceRequest], instances: Mapping[str, Instance], fleet: Managed
) -> tuple[list[TerminateInstance], list[ForgetInstanceRequest]]:
    """Terminations people asked for: only of instances pullrekun launched, never of one whose
    termination protection is on (each refusal said and the wish forgotten)."""
    ends: list[TerminateInstance] = []
    refused: list[ForgetInstanceRequest] = []
    for iid, wish in sorted(wishes.items()):
        if wish.wish != InstanceWish.TERMINATE or iid not in instances:
            continue  # a wish about an instance outside the pool is the planner's to forget
        record = fleet.records.get(iid)
        if instances[iid].state in (InstanceState.SHUTTING_DOWN, InstanceState.TERMINATED):
            refused.append(ForgetInstanceRequest(iid, "terminated"))
        elif record is None:
            why = "not launched by pullrekun: only instances it launched are terminated (retire it instead)"
            refused.append(ForgetInstanceRequest(iid, why))
        elif record.protected:
            refused.append(ForgetInstanceRequest(iid, "termination protection is on: not terminated"))
        else:
            ends.append(TerminateInstance(iid, "terminated on request", wish.actor))
    return ends, refused


def _asked_and_min_size(
    policy: FleetPolicy,
    asked: list[LaunchInstance],
    size: int,
    below: int,
    requests: Sequence[LaunchRequest],
    now: dt.datetime,
) -> list[ForgetLaunchRequest]:
    """Adds the launches people asked for (while the pool has room) and those ``min_size``
    still needs to ``asked``; returns the requests refused."""
    refused: list[ForgetLaunchRequest] = []
    for request in requests:
        if size + len(asked) >= policy.max_size:
            full = f"the pool is at ec2.max_size ({policy.max_size})"
            refused.append(ForgetLaunchRequest(request.request_id, full, request.actor))
            continue
        token = launch_token(policy.pool, now, len(asked))
        why = f"asked for by {request.actor or 'someone'}"
        asked.append(LaunchInstance(token, why, request_id=request.request_id, actor=request.actor))
        below -= 1
    for _ in range(max(0, below)):
        why = f"pool below ec2.min_size ({policy.min_size})"
        asked.append(LaunchInstance(launch_token(policy.pool, now, len(asked)), why))
    return refused


@dataclass(frozen=True)
class LaunchDecision:
    launches: tuple[LaunchInstance, ...]
    queue: tuple[QueuedPR, ...]
    notes: tuple[str, ...] = ()
    forgets: tuple[ForgetLaunch, ...] = ()
    refused_requests: tuple[ForgetLaunchRequest, ...] = ()


def _failure_text(record: LaunchRecord) -> str:
    when = f"; tried again at {record.retry_at:%H:%M} UTC" if record.retry_at is not None else ""
    return f"launching an instance failed: {record.failure}{when}"


def launches(
    policy: FleetPolicy,
    in_flight: Sequence[LaunchRecord],
    size: int,
    queue: tuple[QueuedPR, ...],
    now: dt.datetime,
    requests: Sequence[LaunchRequest] = (),
) -> LaunchDecision:
    """The launches this pass makes (new, or retries of recorded ones) and the queue as it then
    reads. ``in_flight``: recorded launches with no instance yet; ``size``: the pool's
    instances that stay (refused and terminated ones not counted); ``requests``: launches
    people asked for."""
    if not policy.launches:
        off = "launching is off (no ec2.launch_template)"
        return LaunchDecision(
            (),
            queue,
            refused_requests=tuple(ForgetLaunchRequest(r.request_id, off, r.actor) for r in requests),
        )
    waiting = [q.pr_number for q in queue]
    asked: list[LaunchInstance] = []
    blocked: list[LaunchRecord] = []
    forgets: list[ForgetLaunch] = []
    for record in sorted(in_flight, key=lambda r: (r.requested_at, r.token)):
        taken = len(asked) + len(blocked)
        needed = bool(waiting[taken:]) or size + taken < policy.min_size
        if record.failure is None and now - record.requested_at >= policy.lost_after:
            lost = f"no instance of it showed in the pool within {policy.lost_after}"
            forgets.append(ForgetLaunch(record.token, lost))
            continue
        if record.failure is not None and not needed:
            # A launch whose pass died is always asked again (EC2 may have made it: the token
            # returns it); one EC2 refused made nothing, and nobody waits for it now.
            forgets.append(ForgetLaunch(record.token, "failed, and nobody waits for it any more"))
            continue
        if record.failure is not None and record.retry_at is not None and record.retry_at > now:
            blocked.append(record)
            continue
        for_prs = tuple(waiting[taken : taken + 1])
        asked.append(LaunchInstance(record.token, record.reason or "retry", for_prs, retry=True))
    refused: list[ForgetLaunchRequest] = []
    if blocked:
        waits = "a launch failed and waits for its retry"
        refused = [ForgetLaunchRequest(r.request_id, waits, r.actor) for r in requests]
    else:
        room = policy.max_size - size - len(asked)
        wanted = len(waiting) - len(asked)
        new = max(0, min(wanted, room))
        below = policy.min_size - (size + len(asked) + new)
        for _ in range(new):
            pr = waiting[len(asked)]
            asked.append(
                LaunchInstance(
                    launch_token(policy.pool, now, len(asked)), f"PR #{pr} waits for an instance", (pr,)
                )
            )
        refused = _asked_and_min_size(policy, asked, size, below, requests, now)
    covered = {pr for launch in asked for pr in launch.for_prs}
    failing = [pr for pr in waiting if pr not in covered][: len(blocked)]
    failure = {pr: _failure_text(record) for pr, record in zip(failing, blocked, strict=False)}
    new_queue = tuple(
        dataclasses.replace(q, launching=q.pr_number in covered, launch_failure=failure.get(q.pr_number, ""))
        for q in queue
    )
    notes = tuple(f"launch {r.token} waits: {_failure_text(r)}" for r in blocked)
    return LaunchDecision(tuple(asked), new_queue, notes, tuple(forgets), tuple(refused))


def scale_in(
    policy: FleetPolicy,
    fleet: Managed,
    free: Collection[str],
    size: int,
    now: dt.datetime,
) -> tuple[list[TerminateInstance], list[str]]:
    """Managed instances free for ``scale_in_after`` are terminated down to ``min_size``, the
    oldest launch first; never one with termination protection (said in a note)."""
    if not policy.launches:
        return [], []
    candidates = sorted(
        (r for iid, r in fleet.records.items() if iid in free),
        key=lambda r: (r.requested_at, r.token),
    )
    doomed: list[TerminateInstance] = []
    notes: list[str] = []
    for record in candidates:
        idle_since = record.idle_since or record.requested_at
        if now - idle_since < policy.scale_in_after or size - len(doomed) <= policy.min_size:
            continue
        assert record.instance_id is not None
        if record.protected:
            notes.append(f"instance {record.instance_id} is idle, but termination protection is on: kept")
            continue
        hours = (now - idle_since).total_seconds() / 3600
        doomed.append(TerminateInstance(record.instance_id, f"scale-in: free for {hours:.1f} h"))
    return doomed, notes


def resize(
    policy: FleetPolicy,
    observed: Observed,
    fleet: Managed,
    in_use: set[str],
    leaving: set[str],
    queue: tuple[QueuedPR, ...],
    now: dt.datetime,
    hold: str = "",
) -> tuple[list[Action], tuple[QueuedPR, ...], list[str]]:
    """Scale-in of idle managed instances, then the launches the queue (or ``min_size``) needs;
    returns them, the queue as it then reads, and notes. ``leaving``: instances retired or
    replaced in this plan (not counted in the pool's size); ``hold``: why nothing is launched
    now (office hours, the budget), launches people ask for refused with it."""
    adopted = {a.token for a in fleet.adopt}
    in_flight = [r for r in observed.launches if r.instance_id is None and r.token not in adopted]
    size = sum(1 for i in observed.instances if i.instance_id not in leaving)
    free = set() if queue else {iid for iid in fleet.records if iid not in in_use | leaving}
    scaled, notes = scale_in(policy, fleet, free, size, now)
    if hold and policy.launches:
        refused = [ForgetLaunchRequest(r.request_id, hold, r.actor) for r in observed.launch_requests]
        return [*scaled, *refused], queue, notes
    decision = launches(policy, in_flight, size - len(scaled), queue, now, observed.launch_requests)
    actions: list[Action] = [*scaled, *decision.forgets, *decision.refused_requests, *decision.launches]
    return actions, decision.queue, [*notes, *decision.notes]
