"""A fork PR's approval covers the commit that was reviewed, by someone who may approve it.

The label counts only if someone with write access who is not the PR's author added it after
pullrekun had seen the head commit; an APPROVED review counts for the commit it was made on.
"""

from __future__ import annotations

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import run_pass
from tests.integration.test_e2e_reporting import check_openapi

APPROVE = "preview:approved"


def _fork_pr(sb: Sandbox, branch: str) -> tuple[int, str]:
    number, sha = sb.open_pr(branch, f"fork {branch}", fork_owner="stranger", author="stranger")
    assert run_pass(sb).ok  # pullrekun sees the head; no approval yet
    assert not _served(sb, sha)
    return number, sha


def _served(sb: Sandbox, sha: str) -> bool:
    return any(sb.served(addr) == sha for addr in sb.host_addrs)


def _reason(sb: Sandbox, sha: str) -> str:
    return sb.github.status_states(sha)[-1][1]


@pytest.mark.parametrize(
    ("actor", "says"),
    [("stranger", "added by the PR's author"), ("triager", "triager, who has no write access")],
)
def test_a_label_from_the_author_or_a_triager_approves_nothing(
    local_sandbox: Sandbox, actor: str, says: str
) -> None:
    sb = local_sandbox
    number, sha = _fork_pr(sb, f"by-{actor}")
    sb.github.set_labels(number, [APPROVE], actor=actor)
    assert run_pass(sb).ok
    assert not _served(sb, sha)
    assert says in _reason(sb, sha)


def test_a_push_right_after_the_label_is_not_deployed(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, reviewed = _fork_pr(sb, "race")
    sb.github.set_labels(number, [APPROVE], actor="maintainer")  # the maintainer approved `reviewed`
    sneaked = sb.commit("race", "pushed the same second")
    sb.github.push(number, sneaked)  # ... and the author pushes before any pass ran
    assert run_pass(sb).ok
    assert not _served(sb, sneaked)
    assert not _served(sb, reviewed)
    assert "older than commit" in _reason(sb, sneaked)
    # The maintainer looks at the new commit and labels again: now it is approved.
    sb.github.set_labels(number, [], actor="maintainer")
    sb.github.set_labels(number, [APPROVE], actor="maintainer")
    assert run_pass(sb).ok
    assert _served(sb, sneaked)
    check_openapi(sb.github)


def test_an_approving_review_deploys_the_commit_it_was_made_on(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, sha = _fork_pr(sb, "review")
    sb.github.add_review(number, "stranger")  # the author's own approval is none
    assert run_pass(sb).ok
    assert not _served(sb, sha)
    sb.github.add_review(number, "maintainer")
    assert run_pass(sb).ok
    assert _served(sb, sha)
    newer = sb.commit("review", "after the review")
    sb.github.push(number, newer)
    assert run_pass(sb).ok
    assert not _served(sb, newer), "the review approved the older commit only"
    check_openapi(sb.github)
