"""Who may hold an instance, and which recorded holds stay: the planner's first two rules
(:func:`pullrekun.core.planner.plan`). Pure."""

from __future__ import annotations

from collections.abc import Mapping

from pullrekun.core.model import (
    Action,
    Assignment,
    ForgetApproval,
    Instance,
    Observed,
    PullRequest,
    RecordApproval,
    RevokeApproval,
    SkippedPR,
    Unassign,
)
from pullrekun.core.trust import TrustPolicy


def judge_trust(
    observed: Observed, trust: TrustPolicy
) -> tuple[list[Action], dict[int, PullRequest], list[SkippedPR]]:
    """Approvals to record, revoke or forget; the PRs that get an environment; those skipped."""
    all_open = {pr.number for pr in observed.prs}
    approved = {a.pr_number: a.sha for a in observed.approvals}
    approvals: list[Action] = [ForgetApproval(n) for n in sorted(approved) if n not in all_open]
    skipped: list[SkippedPR] = []
    eligible: dict[int, PullRequest] = {}
    for pr in sorted(observed.prs, key=lambda p: p.number):
        verdict = trust.verdict(pr, approved.get(pr.number), observed.evidence.get(pr.number))
        if verdict.record_approval:
            approvals.append(RecordApproval(pr.number, pr.head_sha))
        if verdict.revoke_approval:
            approvals.append(RevokeApproval(pr.number, trust.approval_label))
        elif pr.number in approved and trust.approval_label not in pr.labels:
            approvals.append(ForgetApproval(pr.number))
        if verdict.eligible:
            eligible[pr.number] = pr
        else:
            skipped.append(SkippedPR(pr.number, verdict.reason))
    return approvals, eligible, skipped


def keep_or_release(
    observed: Observed,
    eligible: dict[int, PullRequest],
    skipped: list[SkippedPR],
    instances: dict[str, Instance],
    leaving: Mapping[str, str],
) -> tuple[list[Unassign], dict[int, Assignment]]:
    """Which recorded assignments stay, and which end (and why)."""
    all_open = {pr.number for pr in observed.prs}
    unassign: list[Unassign] = []
    kept: dict[int, Assignment] = {}
    for asg in sorted(observed.assignments, key=lambda a: a.pr_number):
        if asg.pr_number not in all_open:
            unassign.append(Unassign(asg.pr_number, asg.instance_id, "pull request closed"))
        elif asg.pr_number not in eligible:
            why = next(s.reason for s in skipped if s.pr_number == asg.pr_number)
            unassign.append(Unassign(asg.pr_number, asg.instance_id, f"no longer eligible: {why}"))
        elif asg.instance_id not in instances:
            unassign.append(Unassign(asg.pr_number, asg.instance_id, "instance left the pool; PR requeued"))
        elif asg.instance_id in leaving:
            unassign.append(Unassign(asg.pr_number, asg.instance_id, leaving[asg.instance_id]))
        elif asg.instance_id in {k.instance_id for k in kept.values()}:
            # Cannot happen with the DB's unique constraint; never let it spread.
            unassign.append(Unassign(asg.pr_number, asg.instance_id, "instance held twice"))
        else:
            kept[asg.pr_number] = asg
    return unassign, kept
