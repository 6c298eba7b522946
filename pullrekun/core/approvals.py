"""A fork PR's approval: the label as recorded, what GitHub says of who added it and when, and
the planner's actions on it (record, revoke, forget). Pure; re-exported by
:mod:`pullrekun.core.model`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Approval:
    """A fork PR's approval label, recorded for the head commit it was first seen on."""

    pr_number: int
    sha: str


@dataclass(frozen=True)
class ApprovalEvidence:
    """What GitHub says about who approved a fork PR, and when (read for fork PRs only).

    A label proves nothing by itself (anyone with triage access can add one, the author among
    them, and a push can follow it within a second), so it is weighed with who added it and
    when: see :meth:`pullrekun.core.trust.TrustPolicy.verdict`.
    """

    #: Who added the approval label last, when, and whether they may write to the repository.
    label_by: str | None = None
    label_at: dt.datetime | None = None
    label_by_writer: bool = False
    #: When pullrekun first saw the PR's current head commit.
    head_seen_at: dt.datetime | None = None
    #: Commits an APPROVED review by someone with write access (not the author) was made on.
    reviewed_commits: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordApproval:
    """A fork PR's approval label was seen: it approves ``sha`` (and nothing later)."""

    pr_number: int
    sha: str


@dataclass(frozen=True)
class RevokeApproval:
    """A fork PR got new commits after its approval: remove ``label`` so a maintainer re-approves."""

    pr_number: int
    label: str


@dataclass(frozen=True)
class ForgetApproval:
    """The approval label is gone (or the PR closed): drop the recorded approval."""

    pr_number: int
