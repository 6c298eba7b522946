"""Which open PRs get an environment. Pure: no I/O.

In order: the base branch must be one of ``base_branches`` (empty: any); drafts get none
unless ``drafts`` is on; the opt-out label removes a PR; in opt-in mode only PRs with the
opt-in label get one; a PR from a fork needs an approval of its head commit.

An approval is one of:
- an APPROVED review whose commit is the head, by someone with write access who is not the
  PR's author (GitHub binds a review to its commit);
- the approval label, added by someone with write access who is not the PR's author, after
  pullrekun first saw the head commit: whoever added it looked at that commit, not at one
  pushed a second later. Triage access is enough to label, so the label alone is not.
A label approval is recorded for that head; a new push needs approving again (pullrekun removes
the label so the next approval is an explicit act).
"""

from __future__ import annotations

from dataclasses import dataclass

from pullrekun.core.model import ApprovalEvidence, PullRequest


@dataclass(frozen=True)
class Verdict:
    """A PR's eligibility. ``reason`` says why not, in words for the PR's readers."""

    eligible: bool
    reason: str = ""
    #: A fork PR's approval label is on and no approval is recorded: record it at the head.
    record_approval: bool = False
    #: A fork PR got new commits after its approval: take the label off.
    revoke_approval: bool = False


@dataclass(frozen=True)
class TrustPolicy:
    approval_label: str = "preview:approved"
    drafts: bool = False
    opt_out_label: str = "no-preview"
    #: Non-empty: opt-in mode, only PRs with this label get an environment.
    opt_in_label: str = ""
    #: Empty: PRs against any base branch.
    base_branches: tuple[str, ...] = ()

    def label_problem(self, pr: PullRequest, evidence: ApprovalEvidence) -> str | None:
        """Why the approval label on ``pr`` approves nothing (None: it approves the head)."""
        who = evidence.label_by
        if who is None or evidence.label_at is None:
            return f"no record of who added the {self.approval_label} label"
        if who.lower() == pr.author.lower():
            return f"the {self.approval_label} label was added by the PR's author"
        if not evidence.label_by_writer:
            return f"the {self.approval_label} label was added by {who}, who has no write access"
        if evidence.head_seen_at is None or evidence.label_at <= evidence.head_seen_at:
            return (
                f"the {self.approval_label} label is older than commit {pr.head_sha[:7]}: "
                "a maintainer must add it again to approve this commit"
            )
        return None

    def verdict(
        self, pr: PullRequest, approved_sha: str | None, evidence: ApprovalEvidence | None = None
    ) -> Verdict:
        """``approved_sha``: the head commit a label approval was recorded for, if any.

        The approval is bound to the head first approved, whatever else keeps the PR out at that
        moment (a draft approved at A and pushed to B needs approving again).
        """
        evidence = evidence or ApprovalEvidence()
        labelled = pr.from_fork and self.approval_label in pr.labels
        reviewed = pr.from_fork and pr.head_sha in evidence.reviewed_commits
        label_problem = self.label_problem(pr, evidence) if labelled and approved_sha is None else None
        record = labelled and approved_sha is None and label_problem is None
        revoke = labelled and approved_sha is not None and approved_sha != pr.head_sha
        approved = reviewed or (labelled and approved_sha == pr.head_sha) or record

        def no(reason: str) -> Verdict:
            return Verdict(False, reason, record_approval=record, revoke_approval=revoke)

        if self.base_branches and pr.base_ref not in self.base_branches:
            wanted = ", ".join(self.base_branches)
            return no(f"targets {pr.base_ref}; previews are made for PRs against {wanted}")
        if pr.draft and not self.drafts:
            return no("draft pull request; mark it ready for review to get a preview")
        if self.opt_out_label and self.opt_out_label in pr.labels:
            return no(f"opted out with the {self.opt_out_label} label")
        if self.opt_in_label and self.opt_in_label not in pr.labels:
            return no(f"previews are opt-in: add the {self.opt_in_label} label")
        if revoke and not reviewed:
            return no(
                f"new commits since the approval: a maintainer must add the {self.approval_label} label again"
            )
        if pr.from_fork and not approved:
            if label_problem is not None:
                return no(f"from a fork: {label_problem}")
            return no(
                f"from a fork: a maintainer must approve its head commit (a review, or the "
                f"{self.approval_label} label)"
            )
        return Verdict(True, record_approval=record, revoke_approval=revoke and not reviewed)
