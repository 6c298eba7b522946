"""The planner's sleep rules (:func:`pullrekun.core.planner.plan`): which environments sleep,
which waiting PRs are held back (office hours, the budget), and which sleepers hand their
instance to a waiting PR. Pure; the planner's ``now`` drives it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from pullrekun.core.fleet import FleetPolicy, Recycle
from pullrekun.core.model import (
    ASSIGNABLE_STATES,
    UP_STATES,
    Assignment,
    Instance,
    Observed,
    PullRequest,
    QueuedPR,
    Touch,
    Unassign,
)
from pullrekun.core.sleep import Activity, Rest, RestKind, SleepPolicy, rest_for

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def kept_by_sleepers(policy: FleetPolicy, observed: Observed) -> frozenset[str]:
    """Instances a sleeper keeps rather than hands to a waiting PR: those ``ec2.recycle``
    replaces when a PR lets them go (they are replaced once their PR closes)."""
    if not policy.launches or policy.recycle == Recycle.NEVER:
        return frozenset()
    managed = {r.instance_id for r in observed.launches if r.instance_id is not None}
    if policy.recycle == Recycle.ALWAYS:
        return frozenset(managed)
    return frozenset(managed & observed.untrusted)


def budget_text(budget: float, currency: str) -> str:
    return f"the monthly budget ({currency}{budget:,.2f}) is spent; an admin can lift it for this month"


@dataclass
class SleepPass:
    """The sleep decisions of one plan (internal, built by :meth:`build`)."""

    policy: SleepPolicy
    now: dt.datetime
    #: Each PR's activity, this pass's pushes included.
    activity: dict[int, Activity]
    #: Pushes and first sightings seen this pass (recorded with the intent).
    touches: list[Touch]
    #: Why nothing may be started or launched ("" when it may): the spent budget.
    over_budget: str = ""
    rests: dict[int, Rest] = field(default_factory=dict)

    @classmethod
    def build(cls, observed: Observed, policy: SleepPolicy, over_budget: str, now: dt.datetime) -> SleepPass:
        """Each open PR's activity; a head not seen before is a push (activity now). Activity is
        recorded only where a rule reads it (``[sleep] after`` or ``[schedule]``)."""
        activity = dict(observed.activity)
        touches: list[Touch] = []
        for pr in sorted(observed.prs if policy.active else (), key=lambda p: p.number):
            known = activity.get(pr.number)
            if known is not None and known.head_sha == pr.head_sha:
                continue
            reason = "opened" if known is None else "pushed"
            touches.append(Touch(pr.number, pr.head_sha, reason))
            base = known or Activity(pr.number, now)
            activity[pr.number] = dataclasses.replace(base, active_at=now, head_sha=pr.head_sha)
        return cls(policy, now, activity, touches, over_budget)

    def free_instances(
        self, observed: Observed, kept: Mapping[int, Assignment], retiring: set[str]
    ) -> list[Instance]:
        """Instances no kept environment holds that a waiting PR may get (over budget: only
        those already up, as nothing may be started)."""
        held = {asg.instance_id for asg in kept.values()}
        return [
            i
            for i in observed.instances
            if i.instance_id not in held | retiring
            and i.state in ASSIGNABLE_STATES
            and (not self.over_budget or i.state in UP_STATES)
        ]

    def mark_held(self, queue: tuple[QueuedPR, ...]) -> tuple[QueuedPR, ...]:
        """Over budget, every waiting PR says why it waits."""
        if not self.over_budget:
            return queue
        return tuple(dataclasses.replace(q, held=self.over_budget) for q in queue)

    def all_touches(self, given: list[Touch]) -> list[Touch]:
        """The activity to record: one Touch per PR (an instance given wins over a push seen in
        the same pass); none where no rule reads activity."""
        if not self.policy.active:
            return []
        by_pr = {t.pr_number: t for t in self.touches}
        by_pr.update((t.pr_number, t) for t in given)
        return [by_pr[n] for n in sorted(by_pr)]

    def rest_of(self, pr: PullRequest, asg: Assignment, inst: Instance) -> Rest | None:
        """Whether a held environment sleeps this pass (recorded in :attr:`rests`)."""
        rest = rest_for(pr.number, pr.labels, asg.asleep, self.activity.get(pr.number), self.policy, self.now)
        if rest is None and self.over_budget and inst.state not in UP_STATES:
            rest = Rest(pr.number, RestKind.BUDGET, text=f"not woken: {self.over_budget}")
        if rest is not None:
            self.rests[pr.number] = rest
        return rest

    def set_aside(self, waiting: list[PullRequest]) -> tuple[list[PullRequest], list[PullRequest]]:
        """Waiting PRs split into those that may get an instance now and those held back (they
        keep their place in the queue): sleepers that gave their instance up stay asleep without
        one (recorded in :attr:`rests`), and outside office hours only a pinned, labelled or
        woken PR is given one."""
        ready: list[PullRequest] = []
        held: list[PullRequest] = []
        for pr in waiting:
            act = self.activity.get(pr.number)
            if act is not None and act.gave_up_at is not None:
                rest = rest_for(pr.number, pr.labels, act.asleep, act, self.policy, self.now)
                if rest is not None:
                    self.rests[pr.number] = dataclasses.replace(rest, without_instance=True)
                    continue
            if self.policy.closed(self.now) and not self.exempt(pr):
                held.append(pr)
            else:
                ready.append(pr)
        return ready, held

    def exempt(self, pr: PullRequest) -> bool:
        """Pinned, labelled or woken: awake outside office hours too."""
        act = self.activity.get(pr.number)
        if self.policy.keep_label and self.policy.keep_label in pr.labels:
            return True
        if act is None:
            return False
        woken = act.woken_at is not None and self.now - act.woken_at < self.policy.wake_window
        return act.pinned(self.now) or woken

    def hold_reason(self) -> str:
        """Why waiting PRs are held back and nothing is launched ("" if they are not)."""
        if self.over_budget:
            return self.over_budget
        schedule = self.policy.schedule
        if schedule is not None and not schedule.is_open(self.now):
            return f"outside office hours; {self.policy.until_text(schedule.next_change(self.now))}"
        return ""

    def hand_over(
        self,
        kept: Mapping[int, Assignment],
        instances: Mapping[str, Instance],
        wanted: int,
        keep: frozenset[str] = frozenset(),
    ) -> tuple[list[Unassign], list[Instance]]:
        """The oldest sleepers (longest asleep first) let their instances go, up to ``wanted``:
        their Unassigns and the instances freed. Never over budget (the instance must be
        started), never an instance in ``keep``."""
        if wanted <= 0 or not self.policy.hand_over or self.over_budget:
            return [], []
        candidates = [
            rest for rest in self.rests.values() if rest.pr_number in kept and not rest.without_instance
        ]
        sleepers = sorted(
            (r for r in candidates if kept[r.pr_number].instance_id not in keep),
            key=lambda r: (r.since or _EPOCH, r.pr_number),
        )
        gone: list[Unassign] = []
        freed: list[Instance] = []
        for rest in sleepers[:wanted]:
            asg = kept[rest.pr_number]
            why = "asleep: its instance went to a waiting PR; it queues again once woken"
            gone.append(Unassign(rest.pr_number, asg.instance_id, why, set_aside=True))
            freed.append(instances[asg.instance_id])
            self.rests[rest.pr_number] = dataclasses.replace(rest, without_instance=True)
        return gone, freed
