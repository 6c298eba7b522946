"""What moved to production, and what is waiting to: the release notices' decisions. Pure: no I/O.

A release is judged from two shas (the last one reported, the one production runs now) and
GitHub's comparison of them: ahead is a release, behind is a rollback, identical is nothing,
diverged (production was reset to another line) is reported as a release of what the new sha
has, with a note. The first sha ever seen is recorded without announcing history.

The pull requests of a release are those associated with its commits: a merge commit, a squash
and each rebased commit all name their PR. A PR counts once, in the order its first commit
came. A revert commit (``This reverts commit <sha>.``) marks the PR that brought that commit as
reverted.

The risk notes are the section of a PR's body under a configurable heading (``## Release
risk``), up to the next heading of the same or a higher level; a body without it has none.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})", re.IGNORECASE)
_HEADING = re.compile(r"\A(#{1,6})\s+(.*?)\s*#*\s*\Z")
#: A risk section is cut to this many characters (a chat message has limits of its own).
RISK_LIMIT = 1500


class Move(enum.StrEnum):
    FIRST = "first"  # nothing reported yet: record, announce nothing
    UNCHANGED = "unchanged"
    RELEASE = "release"
    ROLLBACK = "rollback"


def judge_move(last_reported: str | None, current: str, comparison: str | None) -> Move:
    """``comparison``: GitHub's compare status of ``last_reported...current`` (ahead, behind,
    identical, diverged), or None when there is nothing to compare."""
    if last_reported is None:
        return Move.FIRST
    if last_reported == current or comparison == "identical":
        return Move.UNCHANGED
    if comparison == "behind":
        return Move.ROLLBACK
    return Move.RELEASE


def same_commit(a: str, b: str) -> bool:
    """Two shas name the same commit (a URL may answer a short one)."""
    return a.startswith(b) or b.startswith(a)


@dataclass(frozen=True)
class ReleaseDecision:
    """What to record of production's sha ``current``, given the last one recorded.

    ``kind``: "" (nothing: the same commit), "first" (recorded, history not announced),
    "unlinked" (a move whose history could not be read: recorded, not announced), "release"
    or "rollback" (announced with the pull requests of ``listed``, GitHub's ``base...head``).
    """

    kind: str
    previous: str | None
    current: str
    listed: tuple[str, str] | None = None

    @property
    def announced(self) -> bool:
        return self.listed is not None


def needs_comparison(last: str | None, current: str) -> bool:
    """Whether judging ``current`` needs GitHub's comparison with the last sha recorded."""
    return last is not None and not same_commit(last, current)


def decide_release(
    last: str | None, current: str, status: str | None, unreadable: str = ""
) -> ReleaseDecision:
    """``status``: GitHub's compare status of ``last...current``; ``unreadable``: why it could not
    be had (then the move is recorded unannounced)."""
    if last is None:
        return ReleaseDecision(str(Move.FIRST), None, current)
    if same_commit(last, current):
        return ReleaseDecision("", last, current)
    if unreadable:
        return ReleaseDecision("unlinked", last, current)
    move = judge_move(last, current, status)
    if move is Move.UNCHANGED:  # the same commit, by another name (a short sha)
        return ReleaseDecision("", last, current)
    if move is Move.ROLLBACK:  # what is no longer live
        return ReleaseDecision(str(move), last, current, listed=(current, last))
    return ReleaseDecision(str(move), last, current, listed=(last, current))


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str


@dataclass(frozen=True)
class PullInfo:
    number: int
    title: str
    author: str
    body: str = ""
    #: Merged into the base branch (a PR only associated with a commit, but closed unmerged, is not).
    merged: bool = True


@dataclass(frozen=True)
class ReleasedPR:
    number: int
    title: str
    author: str
    risk: str | None = None
    reverted: bool = False
    #: This PR reverts an earlier one (its title usually says "Revert ...").
    is_revert: bool = False


def released_prs(
    commits: Iterable[Commit],
    pulls_by_commit: Mapping[str, Iterable[PullInfo]],
    risk_heading: str = "",
) -> tuple[ReleasedPR, ...]:
    """The merged PRs a list of commits (oldest first) brought, each once, in that order."""
    commits = list(commits)
    by_sha: dict[str, int] = {}
    found: dict[int, PullInfo] = {}
    reverting: set[int] = set()
    reverted_shas: list[str] = []
    for commit in commits:
        pulls = [p for p in pulls_by_commit.get(commit.sha, ()) if p.merged]
        for pull in pulls:
            found.setdefault(pull.number, pull)
            by_sha.setdefault(commit.sha, pull.number)
        shas = _REVERTS.findall(commit.message)
        if shas and pulls:
            reverting.update(p.number for p in pulls)
        reverted_shas.extend(shas)
    reverted = {
        number
        for short in reverted_shas
        for sha, number in by_sha.items()
        if sha.startswith(short.lower()) and number not in reverting
    }
    return tuple(
        ReleasedPR(
            number,
            pull.title,
            pull.author,
            risk_section(pull.body, risk_heading) if risk_heading else None,
            reverted=number in reverted,
            is_revert=number in reverting,
        )
        for number, pull in found.items()
    )


def risk_section(body: str | None, heading: str) -> str | None:
    """The risk notes: the section under ``heading``, cut to RISK_LIMIT characters."""
    return markdown_section(body, heading, RISK_LIMIT)


def markdown_section(body: str | None, heading: str, limit: int) -> str | None:
    """The text under ``heading`` (a Markdown heading, matched without regard to case or its
    level's exact spelling), up to the next heading of the same or a higher level, cut to
    ``limit`` characters (ending with "…"); None when there is none."""
    if not body or not heading:
        return None
    wanted = _HEADING.match(heading.strip())
    wanted_text = (wanted.group(2) if wanted else heading.strip()).casefold()
    lines = body.replace("\r\n", "\n").split("\n")
    level, taken = None, []
    for line in lines:
        head = _HEADING.match(line.strip())
        if level is None:
            if head and head.group(2).casefold() == wanted_text:
                level = len(head.group(1))
            continue
        if head and len(head.group(1)) <= level:
            break
        taken.append(line)
    text = "\n".join(taken).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_POSTING_TIME = re.compile(
    r"\A(?:(?P<days>[A-Za-z]{3}(?:-[A-Za-z]{3})?(?:,[A-Za-z]{3}(?:-[A-Za-z]{3})?)*)\s+)?"
    r"(?P<hh>[01]\d|2[0-3]):(?P<mm>[0-5]\d)\Z"
)
#: A scheduled notice whose time passed longer ago than this is skipped, not posted late.
SCHEDULE_GRACE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class PostingTime:
    """One scheduled time of the waiting-for-release notice (UTC), on some weekdays (0 = Monday)."""

    days: frozenset[int]
    hour: int
    minute: int


def parse_posting_time(text: str) -> PostingTime:
    """``"09:30"`` (every day) or ``"Mon-Fri 09:30"`` / ``"Mon,Thu 16:00"``; raises ValueError."""
    m = _POSTING_TIME.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not 'HH:MM' or 'Mon-Fri HH:MM'")
    days: set[int] = set()
    for part in (m.group("days") or "mon-sun").lower().split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"{text!r}: unknown day in {part!r} (use {', '.join(_DAYS)})")
        a, b = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return PostingTime(frozenset(days), int(m.group("hh")), int(m.group("mm")))


def due_posting(
    times: Iterable[PostingTime], last_posted: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """The scheduled time to post the waiting-for-release notice for now, if one is due: the
    newest scheduled time at or before ``now``, not posted yet, and at most SCHEDULE_GRACE old (a
    controller that was down posts nothing late; a pass a few minutes after the time posts it)."""
    newest: dt.datetime | None = None
    for time in times:
        for back in range(8):
            day = (now - dt.timedelta(days=back)).date()
            at = dt.datetime(day.year, day.month, day.day, time.hour, time.minute, tzinfo=dt.UTC)
            if at <= now and day.weekday() in time.days:
                newest = at if newest is None or at > newest else newest
                break
    if newest is None or now - newest > SCHEDULE_GRACE:
        return None
    if last_posted is not None and last_posted >= newest:
        return None
    return newest
