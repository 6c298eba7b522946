"""Decide what one pass must do. Pure: no I/O, no clock of its own, same input -> same plan.

The planner is level-triggered: it compares the complete observed world (open PRs,
pool instances, recorded assignments) with the desired one (every open PR on an instance
running its head commit, oldest PRs first when instances are short, nothing running for
nobody) and returns the difference as ordered, typed actions. Whether an event was
missed never matters: the next pass sees the same world and plans the same fix.

Import-linter forbids this module (and ``pullrekun.core.model``) from importing any I/O
library; see ``[tool.importlinter]`` in pyproject.toml.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pullrekun.core.dbpolicy import DatabasePolicy
from pullrekun.core.dbusers import owner_nonce
from pullrekun.core.model import (
    ASSIGNABLE_STATES,
    UP_STATES,
    Action,
    Assign,
    Assignment,
    CloneSchema,
    Deploy,
    DropSchema,
    EnvStatus,
    ForgetApproval,
    ForgetInstanceRequest,
    ForgetResetLabel,
    Instance,
    InstanceState,
    InstanceWish,
    Observed,
    Plan,
    PullRequest,
    QueuedPR,
    RecordApproval,
    RegisterInstance,
    RetireInstance,
    RevokeApproval,
    SkippedPR,
    StartInstance,
    StopInstance,
    Unassign,
)
from pullrekun.core.trust import TrustPolicy


@dataclass(frozen=True)
class PlannerConfig:
    """The few settings that change decisions (not how they are carried out)."""

    #: How long a failed environment waits before the next deploy attempt.
    failed_retry_after: dt.timedelta = dt.timedelta(0)
    #: Per-environment databases; None: environments get no schema of their own.
    database: DatabasePolicy | None = None
    #: Which open PRs get an environment.
    trust: TrustPolicy = field(default_factory=TrustPolicy)


def _queue_key(pr: PullRequest) -> tuple[dt.datetime, int]:
    return (pr.created_at, pr.number)


def _free_key(inst: Instance) -> tuple[int, str]:
    # Warm instances first (no start needed), then by id: deterministic.
    return (0 if inst.state in UP_STATES else 1, inst.instance_id)


def _deploy_reason(
    asg: Assignment, pr: PullRequest, inst: Instance, config: PlannerConfig, now: dt.datetime
) -> str | None:
    """Why a kept environment needs a deploy this pass, or None if it is fine as it is."""
    if inst.state == InstanceState.STOPPED:
        return "instance was stopped"
    if asg.redeploy_requested:
        return "redeploy requested"
    if asg.deployed_sha != pr.head_sha:
        return "new head commit" if asg.deployed_sha else "not deployed yet"
    if asg.status == EnvStatus.FAILED:
        since = asg.since or now
        if now - since >= config.failed_retry_after:
            return "retry after failure"
        return None
    if asg.status != EnvStatus.READY:
        return "previous deploy did not finish"
    if inst.tag_pr != pr.number or inst.tag_sha != pr.head_sha:
        return "instance tags out of date"
    return None


def _clone_reason(asg: Assignment, pr: PullRequest, db: DatabasePolicy) -> str | None:
    """Why a kept environment's schema must be cloned again (once per assignment, else on request)."""
    if asg.db_source is None:
        return "not cloned yet"
    if asg.db_reset_requested:
        return "reset requested"
    if db.wants_reset(pr) and not asg.db_reset_seen:
        return f"{db.reset_label} label"
    return None


def plan(observed: Observed, config: PlannerConfig, now: dt.datetime) -> Plan:
    """Return the actions that bring the world to the desired state.

    Order of the result: approvals, unassignments, stops, assignments, starts, schema clones,
    deploys, forgotten reset labels, then the pool's changes asked by people (registrations,
    retirements, answered wishes); each group sorted by PR number or instance id. A clone
    always comes with a deploy of the same environment (the app restarts on its fresh schema).

    Guarantees (checked by property tests): no instance serves two PRs, a closed or
    ineligible PR never keeps an instance, every open PR either holds an instance, has a queue
    position or is skipped with a reason, and applying a plan successfully then planning
    again yields an empty plan.
    """
    all_open = {pr.number: pr for pr in observed.prs}
    approved = {a.pr_number: a.sha for a in observed.approvals}
    approvals: list[Action] = [ForgetApproval(n) for n in sorted(approved) if n not in all_open]
    skipped: list[SkippedPR] = []
    open_prs: dict[int, PullRequest] = {}
    for pr in sorted(observed.prs, key=lambda p: p.number):
        verdict = config.trust.verdict(pr, approved.get(pr.number), observed.evidence.get(pr.number))
        if verdict.record_approval:
            approvals.append(RecordApproval(pr.number, pr.head_sha))
        if verdict.revoke_approval:
            approvals.append(RevokeApproval(pr.number, config.trust.approval_label))
        elif pr.number in approved and config.trust.approval_label not in pr.labels:
            approvals.append(ForgetApproval(pr.number))
        if verdict.eligible:
            open_prs[pr.number] = pr
        else:
            skipped.append(SkippedPR(pr.number, verdict.reason))

    instances = {inst.instance_id: inst for inst in observed.instances}
    wishes = {r.instance_id: r for r in observed.instance_requests}
    retiring = {iid for iid, r in wishes.items() if r.wish == InstanceWish.RETIRE and iid in instances}

    unassign: list[Unassign] = []
    kept: dict[int, Assignment] = {}
    for asg in sorted(observed.assignments, key=lambda a: a.pr_number):
        if asg.pr_number not in all_open:
            unassign.append(Unassign(asg.pr_number, asg.instance_id, "pull request closed"))
        elif asg.pr_number not in open_prs:
            why = next(s.reason for s in skipped if s.pr_number == asg.pr_number)
            unassign.append(Unassign(asg.pr_number, asg.instance_id, f"no longer eligible: {why}"))
        elif asg.instance_id not in instances:
            unassign.append(Unassign(asg.pr_number, asg.instance_id, "instance left the pool; PR requeued"))
        elif asg.instance_id in retiring:
            unassign.append(
                Unassign(asg.pr_number, asg.instance_id, "instance retired on request; PR requeued")
            )
        elif asg.instance_id in {k.instance_id for k in kept.values()}:
            # Cannot happen with the DB's unique constraint; never let it spread.
            unassign.append(Unassign(asg.pr_number, asg.instance_id, "instance held twice"))
        else:
            kept[asg.pr_number] = asg

    held = {asg.instance_id for asg in kept.values()}
    free = sorted(
        (
            i
            for i in observed.instances
            if i.instance_id not in held and i.instance_id not in retiring and i.state in ASSIGNABLE_STATES
        ),
        key=_free_key,
    )
    waiting = sorted((pr for pr in open_prs.values() if pr.number not in kept), key=_queue_key)

    db = config.database
    notes: list[str] = []
    assign: list[Assign] = []
    starts: list[StartInstance] = []
    clones: list[CloneSchema] = []
    deploys: list[Deploy] = []
    forgets: list[ForgetResetLabel] = []

    def clone(pr: PullRequest, inst: Instance, reason: str) -> str:
        """Plan a clone for ``pr`` on ``inst``; returns the new owner's nonce."""
        assert db is not None
        source, note = db.source_for(pr)
        if note:
            notes.append(note)
        nonce = owner_nonce(pr.number, now)
        clones.append(
            CloneSchema(
                pr.number,
                inst.instance_id,
                source,
                db.target_for(inst),
                reason,
                reset_label=db.wants_reset(pr),
                nonce=nonce,
            )
        )
        return nonce

    for pr, inst in zip(waiting, free, strict=False):
        assign.append(Assign(pr.number, inst.instance_id))
        if inst.state == InstanceState.STOPPED:
            starts.append(StartInstance(inst.instance_id))
        nonce = clone(pr, inst, "new assignment") if db is not None else ""
        deploys.append(
            Deploy(pr.number, inst.instance_id, pr.head_sha, "new assignment", nonce, pr.from_fork)
        )
    queue = tuple(
        QueuedPR(pr.number, position) for position, pr in enumerate(waiting[len(assign) :], start=1)
    )

    stops: list[StopInstance] = []
    for number, asg in kept.items():
        pr, inst = open_prs[number], instances[asg.instance_id]
        if asg.asleep:
            # Stopped on request: the instance stays the PR's, stopped, until someone wakes it.
            if inst.state in UP_STATES or inst.tag_pr is not None or inst.tag_sha is not None:
                stops.append(
                    StopInstance(inst.instance_id, f"PR #{number} asleep: stopped on request", wipe=False)
                )
            continue
        if inst.state not in ASSIGNABLE_STATES:
            notes.append(f"PR #{number}: instance {inst.instance_id} is {inst.state}; waiting")
            continue
        reason = _deploy_reason(asg, pr, inst, config, now)
        nonce = asg.db_nonce or ""
        if db is not None:
            clone_reason = _clone_reason(asg, pr, db)
            if clone_reason is not None:
                nonce = clone(pr, inst, clone_reason)
                reason = reason or "database cloned"
            elif asg.db_reset_seen and not db.wants_reset(pr):
                forgets.append(ForgetResetLabel(number))
        if reason is None:
            continue
        if inst.state == InstanceState.STOPPED:
            starts.append(StartInstance(inst.instance_id))
        deploys.append(Deploy(number, inst.instance_id, pr.head_sha, reason, nonce, pr.from_fork))

    in_use = held | {a.instance_id for a in assign}
    drops: list[DropSchema] = []
    if db is not None and db.drop_on_close:
        for gone in unassign:
            inst_gone = instances.get(gone.instance_id)
            if gone.pr_number not in all_open and inst_gone is not None and gone.instance_id not in in_use:
                drops.append(DropSchema(gone.instance_id, db.target_for(inst_gone)))
    holders = {a.instance_id: a.pr_number for a in kept.values()}
    holders.update((a.instance_id, a.pr_number) for a in assign)
    pool_changes: list[Action] = []
    for inst in observed.instances:
        wish = wishes[inst.instance_id].wish if inst.instance_id in wishes else None
        if inst.instance_id in in_use:
            if wish == InstanceWish.RUNNING:
                given = f"given to PR #{holders[inst.instance_id]}"
                pool_changes.append(ForgetInstanceRequest(inst.instance_id, given))
            continue
        stale = inst.tag_pr is not None or inst.tag_sha is not None
        if wish == InstanceWish.RUNNING and not stale:
            # Kept running on request (someone works on it): started if need be, never stopped.
            if inst.state == InstanceState.STOPPED:
                starts.append(StartInstance(inst.instance_id))
            continue
        if inst.state in UP_STATES:
            why = "retired on request" if wish == InstanceWish.RETIRE else "running but belongs to no open PR"
            stops.append(StopInstance(inst.instance_id, why))
        elif stale:
            stops.append(StopInstance(inst.instance_id, "stale pullrekun tags"))
        elif wish == InstanceWish.RETIRE and inst.state == InstanceState.STOPPED:
            pool_changes.append(RetireInstance(inst.instance_id, wishes[inst.instance_id].actor))
        elif wish == InstanceWish.RETIRE:
            notes.append(f"instance {inst.instance_id} is {inst.state}; retired once stopped")
    for iid, request in sorted(wishes.items()):
        if iid in instances:
            if request.wish == InstanceWish.REGISTER:
                pool_changes.append(ForgetInstanceRequest(iid, "already in the pool"))
        elif request.wish == InstanceWish.REGISTER:
            pool_changes.append(RegisterInstance(iid, request.actor))
        else:
            pool_changes.append(ForgetInstanceRequest(iid, "not in the pool"))

    actions: list[Action] = [
        *approvals,
        *unassign,
        *sorted(stops, key=lambda a: a.instance_id),
        *sorted(drops, key=lambda a: a.instance_id),
        *sorted(assign, key=lambda a: a.pr_number),
        *sorted(starts, key=lambda a: a.instance_id),
        *sorted(clones, key=lambda a: a.pr_number),
        *sorted(deploys, key=lambda a: a.pr_number),
        *sorted(forgets, key=lambda a: a.pr_number),
        *pool_changes,
    ]
    return Plan(
        actions=tuple(actions),
        queue=queue,
        notes=tuple(notes),
        skipped=tuple(skipped),
        busy=len(in_use),
    )
