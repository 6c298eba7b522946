"""The release notices' decisions (pullrekun.core.releases): moves, released PRs, risk sections."""

from __future__ import annotations

import pytest

from pullrekun.core.releases import (
    RISK_LIMIT,
    Commit,
    Move,
    PullInfo,
    ReleasedPR,
    decide_release,
    judge_move,
    needs_comparison,
    released_prs,
    risk_section,
)

A, B, C, D, E = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)


@pytest.mark.parametrize(
    ("last", "current", "comparison", "move"),
    [
        (None, A, None, Move.FIRST),  # the first sha is recorded, history is not announced
        (A, A, None, Move.UNCHANGED),
        (A, B, "identical", Move.UNCHANGED),
        (A, B, "ahead", Move.RELEASE),
        (A, B, "behind", Move.ROLLBACK),  # production moved to an ancestor: not an empty release
        (A, B, "diverged", Move.RELEASE),
    ],
)
def test_a_move_is_judged_from_the_comparison(
    last: str | None, current: str, comparison: str | None, move: Move
) -> None:
    assert judge_move(last, current, comparison) is move


def test_merge_squash_and_rebase_styles_each_count_once_in_order() -> None:
    commits = [
        Commit(A, "Merge pull request #7 from acme/feature"),  # a merge commit
        Commit(B, "Squashed: add the cart (#8)"),  # a squash
        Commit(C, "rebased 1/2"),  # a rebase merge: two commits of one PR
        Commit(D, "rebased 2/2"),
        Commit(E, "a direct push to main"),  # no PR: nothing to list
    ]
    pulls = {
        A: [PullInfo(7, "Feature", "alice")],
        B: [PullInfo(8, "Cart", "bob")],
        C: [PullInfo(9, "Rebased", "carol")],
        D: [PullInfo(9, "Rebased", "carol")],
    }
    assert [p.number for p in released_prs(commits, pulls)] == [7, 8, 9]


def test_a_pr_closed_unmerged_but_associated_with_a_commit_is_not_listed() -> None:
    pulls = {A: [PullInfo(3, "Abandoned", "x", merged=False), PullInfo(4, "Landed", "y")]}
    assert [p.number for p in released_prs([Commit(A, "m")], pulls)] == [4]


def test_a_reverted_pr_is_marked_and_its_revert_is_marked_as_one() -> None:
    commits = [
        Commit(A, "Add search (#5)"),
        Commit(B, f'Revert "Add search (#5)"\n\nThis reverts commit {A[:10]}.'),
    ]
    pulls = {A: [PullInfo(5, "Add search", "alice")], B: [PullInfo(6, 'Revert "Add search"', "bob")]}
    five, six = released_prs(commits, pulls)
    assert (five.number, five.reverted, five.is_revert) == (5, True, False)
    assert (six.number, six.reverted, six.is_revert) == (6, False, True)


BODY = """Adds the cart.

## Release risk
Migrates the orders table: **5 minutes** of locks.

### Rollback
Restore the snapshot.

## Testing
Clicked around.
"""


def test_the_risk_section_runs_to_the_next_heading_of_its_level() -> None:
    section = risk_section(BODY, "## Release risk")
    assert (
        section == "Migrates the orders table: **5 minutes** of locks.\n\n### Rollback\nRestore the snapshot."
    )
    assert risk_section(BODY, "release RISK") == section, "the heading is matched without regard to case"
    assert risk_section(BODY.replace("\n", "\r\n"), "## Release risk") == section


@pytest.mark.parametrize("body", [None, "", "No sections at all.", "## Release risk\n\n## Testing\nnone"])
def test_a_body_without_the_section_has_no_risk_and_is_no_error(body: str | None) -> None:
    assert risk_section(body, "## Release risk") is None


def test_a_long_risk_section_is_cut() -> None:
    section = risk_section("## Release risk\n" + "x" * 5000, "## Release risk")
    assert section is not None
    assert len(section) == RISK_LIMIT
    assert section.endswith("…")


def test_risk_sections_come_with_the_released_prs_when_asked() -> None:
    pulls = {A: [PullInfo(7, "Cart", "alice", body=BODY)]}
    (with_risk,) = released_prs([Commit(A, "m")], pulls, "## Release risk")
    assert with_risk.risk is not None
    assert with_risk.risk.startswith("Migrates the orders table")
    assert released_prs([Commit(A, "m")], pulls) == (ReleasedPR(7, "Cart", "alice"),)


def test_schedule_slots_parse_days_and_refuse_nonsense() -> None:
    from pullrekun.core.releases import parse_posting_time

    assert parse_posting_time("09:30").days == frozenset(range(7))
    weekdays = parse_posting_time("Mon-Fri 16:05")
    assert (weekdays.days, weekdays.hour, weekdays.minute) == (frozenset(range(5)), 16, 5)
    assert parse_posting_time("Sat-Mon 08:00").days == frozenset({5, 6, 0}), "a range may wrap the week"
    assert parse_posting_time("mon,thu 08:00").days == frozenset({0, 3})
    for bad in ("9:30", "24:00", "Mon-Fry 09:00", "09:30 Mon", "", "Mon-Fri"):
        with pytest.raises(ValueError, match=r"HH:MM|unknown day"):
            parse_posting_time(bad)


def test_a_scheduled_notice_is_due_once_within_its_grace_and_never_late() -> None:
    import datetime as dt

    from pullrekun.core.releases import SCHEDULE_GRACE, due_posting, parse_posting_time

    friday = dt.datetime(2026, 11, 27, 9, 40, tzinfo=dt.UTC)
    times = [parse_posting_time("Mon-Fri 09:30")]
    slot = friday.replace(minute=30)
    assert due_posting(times, None, friday) == slot
    assert due_posting(times, slot, friday) is None, "posted already"
    assert due_posting(times, None, friday.replace(minute=20)) is None, "not yet: yesterday's is too old"
    assert due_posting(times, None, slot + SCHEDULE_GRACE + dt.timedelta(minutes=1)) is None, "never late"
    saturday = friday + dt.timedelta(days=1)
    assert due_posting(times, None, saturday) is None, "not on weekends"
    assert due_posting(
        [parse_posting_time("09:30"), parse_posting_time("09:35")], slot, friday
    ) == friday.replace(minute=35)


def test_the_first_sha_is_recorded_without_history() -> None:
    assert not needs_comparison(None, A)
    decision = decide_release(None, A, None)
    assert (decision.kind, decision.announced) == ("first", False)


def test_the_same_commit_by_a_short_name_is_no_move() -> None:
    assert not needs_comparison(A, A[:7])
    assert decide_release(A, A[:7], None).kind == ""
    assert decide_release(A, B, "identical").kind == ""


def test_a_release_lists_what_came_a_rollback_what_left() -> None:
    assert needs_comparison(A, B)
    release = decide_release(A, B, "ahead")
    assert (release.kind, release.listed) == ("release", (A, B))
    diverged = decide_release(A, B, "diverged")
    assert (diverged.kind, diverged.listed) == ("release", (A, B))
    rollback = decide_release(A, B, "behind")
    assert (rollback.kind, rollback.listed) == ("rollback", (B, A))


def test_a_move_whose_history_cannot_be_read_is_recorded_unannounced() -> None:
    decision = decide_release(A, B, None, "404 no common ancestor")
    assert (decision.kind, decision.previous, decision.current, decision.announced) == (
        "unlinked",
        A,
        B,
        False,
    )
