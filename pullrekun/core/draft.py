"""The actions of one plan as the planner's rules add them (:func:`pullrekun.core.planner.plan`):
what each kept environment needs, what the waiting PRs get, what becomes of free instances.
Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
    ForgetInstanceRequest,
    ForgetResetLabel,
    ForgetSchemaDrop,
    Instance,
    InstanceRequest,
    InstanceState,
    InstanceWish,
    Observed,
    PullRequest,
    QueuedPR,
    RegisterInstance,
    RetireInstance,
    StartInstance,
    StopInstance,
    TagInstance,
    Touch,
    Unassign,
    UntagInstance,
)
from pullrekun.core.sleep import Rest


def queue_key(pr: PullRequest) -> tuple[dt.datetime, int]:
    return (pr.created_at, pr.number)


def free_key(inst: Instance, unbooted: frozenset[str] = frozenset()) -> tuple[int, int, str]:
    # Ready to serve first: bootstrapped before just launched, warm (no start needed) before
    # stopped; then by id: deterministic.
    return (inst.instance_id in unbooted, 0 if inst.state in UP_STATES else 1, inst.instance_id)


def _deploy_reason(
    asg: Assignment,
    pr: PullRequest,
    inst: Instance,
    retry_after: dt.timedelta,
    now: dt.datetime,
    settings: tuple[tuple[str, str], ...] = (),
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
        if now - since >= retry_after:
            return "retry after failure"
        return None
    if asg.status != EnvStatus.READY:
        return "previous deploy did not finish"
    if asg.settings != settings:
        return "its settings changed"
    if _tags_contradict(inst, pr):
        return "instance tags out of date"
    return None


def _tags_contradict(inst: Instance, pr: PullRequest) -> bool:
    """The instance's tags name another PR or commit than the one recorded as served (a missing
    tag contradicts nothing: its write failed, or has not happened yet)."""
    return (inst.tag_pr is not None and inst.tag_pr != pr.number) or (
        inst.tag_sha is not None and inst.tag_sha != pr.head_sha
    )


def _clone_reason(asg: Assignment, pr: PullRequest, db: DatabasePolicy) -> str | None:
    """Why a kept environment's schema must be cloned again (once per assignment, else on request)."""
    if asg.db_source is None:
        return "not cloned yet"
    if asg.db_reset_requested:
        return "reset requested"
    if db.wants_reset(pr) and not asg.db_reset_seen:
        return f"{db.reset_label} label"
    return None


@dataclass
class Draft:
    """The actions of one plan as the planner's rules add them (internal, mutable)."""

    db: DatabasePolicy | None
    now: dt.datetime
    #: Launched instances not bootstrapped yet.
    bootstrap: frozenset[str] = frozenset()
    #: Each PR's own settings as they should be (pullrekun.core.settings).
    settings: Mapping[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    assign: list[Assign] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    starts: list[StartInstance] = field(default_factory=list)
    clones: list[CloneSchema] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    forgets: list[ForgetResetLabel] = field(default_factory=list)
    stops: list[StopInstance] = field(default_factory=list)
    drops: list[DropSchema] = field(default_factory=list)
    pool_changes: list[Action] = field(default_factory=list)
    #: Instances serving their PR's head whose tags are missing (written without a deploy).
    tags: list[TagInstance] = field(default_factory=list)
    #: Tags to clear: after a stop of this pass, or on an instance that is stopped already.
    untags: list[UntagInstance] = field(default_factory=list)

    def stop(self, inst: Instance, stop: StopInstance) -> None:
        """Stop ``inst``; its PR and commit tags, if it has any, are cleared once it is stopped."""
        self.stops.append(stop)
        if inst.tag_pr is not None or inst.tag_sha is not None:
            self.untags.append(UntagInstance(inst.instance_id))

    def source_of(self, pr_number: int, recorded: str) -> str:
        """The schema the PR's database is (about to be) a copy of: this plan's clone, or the
        one recorded."""
        return next((c.source for c in self.clones if c.pr_number == pr_number), recorded)

    def ordered(self) -> list[Action]:
        """Stops, drops, assignments, starts, clones, deploys, tags (each deploy's, written if
        it succeeds, and the missing ones), tags cleared and forgotten reset labels, each group by
        instance id or PR number."""
        deployed = [TagInstance(d.instance_id, d.pr_number, d.sha, deployed=True) for d in self.deploys]
        return [
            *sorted(self.stops, key=lambda a: a.instance_id),
            *sorted(self.drops, key=lambda a: a.instance_id),
            *sorted(self.assign, key=lambda a: a.pr_number),
            *sorted(self.starts, key=lambda a: a.instance_id),
            *sorted(self.clones, key=lambda a: a.pr_number),
            *sorted(self.deploys, key=lambda a: a.pr_number),
            *sorted([*deployed, *self.tags], key=lambda a: a.pr_number),
            *sorted(self.untags, key=lambda a: a.instance_id),
            *sorted(self.forgets, key=lambda a: a.pr_number),
        ]

    def clone(self, pr: PullRequest, inst: Instance, reason: str) -> str:
        """Plan a clone for ``pr`` on ``inst``; returns the new owner's nonce."""
        assert self.db is not None
        source, note = self.db.source_for(pr)
        if note:
            self.notes.append(note)
        nonce = owner_nonce(pr.number, self.now)
        target = self.db.target_for(inst)
        reset = self.db.wants_reset(pr)
        self.clones.append(
            CloneSchema(pr.number, inst.instance_id, source, target, reason, reset_label=reset, nonce=nonce)
        )
        return nonce

    def assign_waiting(
        self, waiting: list[PullRequest], free: list[Instance], held: list[PullRequest], hold: str
    ) -> tuple[QueuedPR, ...]:
        """The oldest waiting PRs get the free instances; the rest queue, in order, with those
        ``held`` back (``hold`` says why) in their place."""
        for pr, inst in zip(waiting, free, strict=False):
            self.assign.append(Assign(pr.number, inst.instance_id))
            self.touches.append(Touch(pr.number, pr.head_sha, "given an instance"))
            if inst.state == InstanceState.STOPPED:
                self.starts.append(StartInstance(inst.instance_id))
            nonce = self.clone(pr, inst, "new assignment") if self.db is not None else ""
            self.deploys.append(
                Deploy(
                    pr.number,
                    inst.instance_id,
                    pr.head_sha,
                    "new assignment",
                    nonce,
                    pr.from_fork,
                    bootstrap=inst.instance_id in self.bootstrap,
                    settings=self.settings.get(pr.number, ()),
                    db_source=self.source_of(pr.number, ""),
                )
            )
        rest = sorted([*waiting[len(self.assign) :], *held], key=queue_key)
        held_numbers = {pr.number for pr in held}
        return tuple(
            QueuedPR(pr.number, position, held=hold if pr.number in held_numbers else "")
            for position, pr in enumerate(rest, start=1)
        )

    def refresh(
        self, asg: Assignment, pr: PullRequest, inst: Instance, retry_after: dt.timedelta, rest: Rest | None
    ) -> None:
        """A kept environment: asleep, waited for, cloned again, redeployed, or fine as it is."""
        number, db = pr.number, self.db
        if rest is not None:
            # Asleep: the instance stays the PR's, stopped, until something wakes it.
            why = f"PR #{number} asleep: {rest.text.split(';')[0]}"
            if inst.state in UP_STATES:
                self.stop(inst, StopInstance(inst.instance_id, why, wipe=False))
            elif inst.tag_pr is not None or inst.tag_sha is not None:
                self.untags.append(UntagInstance(inst.instance_id, why, after_stop=False))
            return
        if inst.state not in ASSIGNABLE_STATES:
            self.notes.append(f"PR #{number}: instance {inst.instance_id} is {inst.state}; waiting")
            return
        reason = _deploy_reason(asg, pr, inst, retry_after, self.now, self.settings.get(number, ()))
        nonce = asg.db_nonce or ""
        if db is not None:
            clone_reason = _clone_reason(asg, pr, db)
            if clone_reason is not None:
                nonce = self.clone(pr, inst, clone_reason)
                reason = reason or "database cloned"
            elif asg.db_reset_seen and not db.wants_reset(pr):
                self.forgets.append(ForgetResetLabel(number))
        if reason is None:
            serving = asg.status == EnvStatus.READY and asg.deployed_sha == pr.head_sha
            if serving and (inst.tag_pr is None or inst.tag_sha is None):
                self.tags.append(TagInstance(inst.instance_id, number, pr.head_sha))
            return
        if inst.state == InstanceState.STOPPED:
            self.starts.append(StartInstance(inst.instance_id))
        self.deploys.append(
            Deploy(
                number,
                inst.instance_id,
                pr.head_sha,
                reason,
                nonce,
                pr.from_fork,
                bootstrap=inst.instance_id in self.bootstrap,
                settings=self.settings.get(number, ()),
                db_source=self.source_of(number, asg.db_source or ""),
            )
        )

    def free_instance(self, inst: Instance, wish: InstanceRequest | None, released: bool) -> None:
        """An instance no PR holds: kept running on request, stopped, or retired. One that no PR
        let go in this plan and still runs, or carries a PR's tags, is the orphan sweep's."""
        iid, want = inst.instance_id, wish.wish if wish is not None else None
        stale = inst.tag_pr is not None or inst.tag_sha is not None
        if want == InstanceWish.RUNNING and not stale:
            # Kept running on request (someone works on it): started if need be, never stopped.
            if inst.state == InstanceState.STOPPED:
                self.starts.append(StartInstance(iid))
            return
        tagged_for = (
            f"tagged for PR #{inst.tag_pr}, which holds no instance (closed, or unknown to the state DB)"
            if inst.tag_pr is not None
            else "stale pullrekun tags"
        )
        if want == InstanceWish.RETIRE and inst.state in UP_STATES:
            self.stop(inst, StopInstance(iid, "retired on request"))
        elif inst.state in UP_STATES:
            why = (
                tagged_for
                if inst.tag_pr is not None and not released
                else "running but belongs to no open PR"
            )
            self.stop(inst, StopInstance(iid, why, swept=not released))
        elif stale:
            # Stopped already: only its tags are wrong (no playbook run for that).
            self.untags.append(UntagInstance(iid, tagged_for, after_stop=False, swept=not released))
        elif want == InstanceWish.RETIRE and inst.state == InstanceState.STOPPED:
            self.pool_changes.append(RetireInstance(iid, wish.actor if wish is not None else None))
        elif want == InstanceWish.RETIRE:
            self.notes.append(f"instance {iid} is {inst.state}; retired once stopped")


def _recorded_drops(
    draft: Draft, drops: Mapping[str, str], instances: Mapping[str, Instance], holders: Mapping[str, int]
) -> None:
    """Drops an earlier pass recorded and did not finish: done now while the instance is free,
    forgotten once it serves another PR (its clone replaces the schema whole)."""
    planned = {d.instance_id for d in draft.drops}
    for iid, schema in sorted(drops.items()):
        if draft.db is None:
            draft.notes.append(f"schema {schema} waits to be dropped: [database] is not configured")
            continue
        if iid in planned:
            continue
        if iid in holders:
            draft.pool_changes.append(ForgetSchemaDrop(iid, f"instance given to PR #{holders[iid]}"))
        elif iid in instances:
            draft.drops.append(DropSchema(iid, schema))
        else:
            draft.notes.append(f"schema {schema} waits to be dropped: instance {iid} is not in the pool")


def wishes_outside(wishes: dict[str, InstanceRequest], instances: dict[str, Instance]) -> list[Action]:
    """Registrations asked for, and wishes about instances not (or already) in the pool."""
    changes: list[Action] = []
    for iid, request in sorted(wishes.items()):
        if iid in instances:
            if request.wish == InstanceWish.REGISTER:
                changes.append(ForgetInstanceRequest(iid, "already in the pool"))
        elif request.wish == InstanceWish.REGISTER:
            changes.append(RegisterInstance(iid, request.actor))
        else:
            changes.append(ForgetInstanceRequest(iid, "not in the pool"))
    return changes


def settle_free(
    draft: Draft,
    observed: Observed,
    unassign: list[Unassign],
    holders: Mapping[str, int],
    terminated: set[str],
    let_go: set[str],
) -> None:
    """Instances no PR holds after this plan: closed environments' schemas dropped, free ones
    stopped, kept running or retired; wishes about held ones answered. ``let_go``: released or
    launched in this plan (not the orphan sweep's)."""
    instances = {i.instance_id: i for i in observed.instances}
    wishes = {r.instance_id: r for r in observed.instance_requests}
    db = draft.db
    if db is not None and db.drop_on_close:
        all_open = {pr.number for pr in observed.prs}
        for gone in unassign:
            inst_gone = instances.get(gone.instance_id)
            if gone.pr_number not in all_open and inst_gone is not None and gone.instance_id not in holders:
                draft.drops.append(DropSchema(gone.instance_id, db.target_for(inst_gone)))
    _recorded_drops(draft, observed.schema_drops, instances, holders)
    for inst in observed.instances:
        wish = wishes.get(inst.instance_id)
        if inst.instance_id in terminated:
            continue
        if inst.instance_id not in holders:
            draft.free_instance(inst, wish, inst.instance_id in let_go)
        elif wish is not None and wish.wish == InstanceWish.RUNNING:
            given = f"given to PR #{holders[inst.instance_id]}"
            draft.pool_changes.append(ForgetInstanceRequest(inst.instance_id, given))
