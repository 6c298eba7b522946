"""Which open PRs get an environment. Pure: no I/O.

In order: the base branch must be one of ``base_branches`` (empty: any); drafts get none
unless ``drafts`` is on; the opt-out label removes a PR; in opt-in mode only PRs with the
opt-in label get one; a PR from a fork needs the approval label, and the approval holds
for the head commit it was first seen on: a new push needs a maintainer to approve again
(pullrekun removes the label so the next approval is an explicit act). Only people with
triage or write access can add labels on GitHub, which is what makes a label an approval.
"""

from __future__ import annotations

from dataclasses import dataclass

from pullrekun.core.model import PullRequest


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

    def verdict(self, pr: PullRequest, approved_sha: str | None) -> Verdict:
        """``approved_sha``: the head commit the fork PR's approval was recorded for, if any.

        The approval is bound to the head first seen with the label, whatever else keeps
        the PR out at that moment (a draft approved at A and pushed to B needs approving again).
        """
        approved = pr.from_fork and self.approval_label in pr.labels
        record = approved and approved_sha is None
        revoke = approved and approved_sha is not None and approved_sha != pr.head_sha

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
        if pr.from_fork and not approved:
            return no(f"from a fork: a maintainer must add the {self.approval_label} label to approve")
        if revoke:
            return no(
                f"new commits since the approval: a maintainer must add the {self.approval_label} label again"
            )
        return Verdict(True, record_approval=record)
