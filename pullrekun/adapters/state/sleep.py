"""What the sleep rules read and what people ask of them: each PR's activity (pushes, visits,
wakes, pins), and the environments asleep as the last pass left them.

Surfaces record here (a wake, a visit, a pin); the next pass's planner decides
(:mod:`pullrekun.core.sleep`). A pass records its pushes, hand-overs and rests with its intent
(:func:`record_sleep_intent`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema import AssignmentRow
from pullrekun.adapters.state.schema_sleep import ActivityRow, RestRow
from pullrekun.core.model import Plan, Touch, Unassign
from pullrekun.core.sleep import Activity, RestKind

#: A visit of an awake environment's link counts as activity at most this often (no write per
#: page view).
VISIT_EVERY = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class RestRecord:
    """An environment asleep, as the last pass left it."""

    pr_number: int
    kind: RestKind
    since: dt.datetime
    until: dt.datetime | None
    text: str
    without_instance: bool


def _activity(r: ActivityRow) -> Activity:
    return Activity(
        r.pr_number, r.active_at, r.head_sha, r.woken_at, r.pinned_by, r.pinned_until, r.gave_up_at, r.asleep
    )


def _row(s: Session, pr_number: int, now: dt.datetime) -> ActivityRow:
    row = s.get(ActivityRow, pr_number)
    if row is None:
        row = ActivityRow(pr_number=pr_number, active_at=now, head_sha="")
        s.add(row)
    return row


def active(s: Session, pr_number: int, now: dt.datetime) -> None:
    """Someone acted on the PR's environment (a redeploy, a fresh database): its idle clock
    starts again (the sleep rules' "action")."""
    row = s.get(ActivityRow, pr_number)
    if row is not None:
        row.active_at = now


def _known(s: Session, pr_number: int) -> bool:
    return s.get(AssignmentRow, pr_number) is not None or s.get(ActivityRow, pr_number) is not None


def _woken(s: Session, pr_number: int, now: dt.datetime) -> ActivityRow | None:
    """Wake the PR's environment: active and woken now, a stop on request lifted. None (and
    nothing done) if the PR has neither an environment nor a record."""
    if not _known(s, pr_number):
        return None
    row = _row(s, pr_number, now)
    row.active_at, row.woken_at, row.asleep = now, now, False
    asg = s.get(AssignmentRow, pr_number)
    if asg is not None:
        asg.asleep = False
    return row


class Sleep:
    def __init__(self, db: Database) -> None:
        self._db = db

    def activity(self) -> dict[int, Activity]:
        with self._db.session() as s:
            return {r.pr_number: _activity(r) for r in s.scalars(select(ActivityRow))}

    def rests(self) -> dict[int, RestRecord]:
        with self._db.session() as s:
            return {
                r.pr_number: RestRecord(
                    r.pr_number, RestKind(r.kind), r.since, r.until, r.text, r.without_instance
                )
                for r in s.scalars(select(RestRow))
            }

    def known(self, pr_number: int) -> bool:
        """Whether the PR has an environment, or a record of activity (an open PR a pass saw)."""
        with self._db.session() as s:
            return _known(s, pr_number)

    def wake(self, pr_number: int, now: dt.datetime, actor: str | None = None, how: str = "wake up") -> bool:
        """Wake PR ``pr_number``'s environment (or keep it awake): its idle clock starts again, a
        stop on request is lifted, and outside office hours it stays up for the wake window.
        False if the PR has neither an environment nor a record."""
        with self._db.session() as s, s.begin():
            woken = _woken(s, pr_number, now)
            if woken is None:
                return False
            asg = s.get(AssignmentRow, pr_number)
            s.add(event_row(now, "wake_requested", how, pr_number, asg.instance_id if asg else None, actor))
            return True

    def visited(self, pr_number: int, now: dt.datetime) -> bool:
        """A visit of an awake environment's link: activity (at most every VISIT_EVERY); True if
        recorded."""
        with self._db.session() as s, s.begin():
            row = s.get(ActivityRow, pr_number)
            if row is None or now - row.active_at < VISIT_EVERY:
                return False
            row.active_at = now
            return True

    def pin(
        self, pr_number: int, until: dt.datetime | None, now: dt.datetime, actor: str | None = None
    ) -> bool:
        """Keep the environment awake until ``until`` (None: until unpinned); it wakes too. False
        if the PR has neither an environment nor a record."""
        with self._db.session() as s, s.begin():
            row = _woken(s, pr_number, now)
            if row is None:
                return False
            row.pinned_by, row.pinned_until = actor or "someone", until
            how = f"kept awake until {until:%Y-%m-%d %H:%M} UTC" if until else "kept awake until unpinned"
            s.add(event_row(now, "pinned", how, pr_number, None, actor))
            return True

    def unpin(self, pr_number: int, now: dt.datetime, actor: str | None = None) -> bool:
        """Let the environment sleep by the rules again; False if it was not pinned."""
        with self._db.session() as s, s.begin():
            row = s.get(ActivityRow, pr_number)
            if row is None or row.pinned_by is None:
                return False
            row.pinned_by, row.pinned_until = None, None
            s.add(event_row(now, "unpinned", "sleeps by the rules again", pr_number, None, actor))
            return True


def set_aside(s: Session, gone: Unassign, now: dt.datetime) -> None:
    """An asleep environment hands its instance over (before its assignment row goes): it keeps
    its activity, and stays asleep on request if it was."""
    asg = s.get(AssignmentRow, gone.pr_number)
    row = _row(s, gone.pr_number, now)
    row.gave_up_at = now
    row.asleep = bool(asg.asleep) if asg is not None else row.asleep


def record_sleep_intent(s: Session, plan: Plan, now: dt.datetime, open_prs: Collection[int] | None) -> None:
    """The pass's pushes and instances given (activity), and who sleeps (with events when one
    falls asleep or wakes). ``open_prs``: every open PR (None: unknown); others' activity goes."""
    for touch in plan.of_type(Touch):
        row = _row(s, touch.pr_number, now)
        row.active_at, row.head_sha = now, touch.head_sha
        if touch.reason == "given an instance":
            row.gave_up_at, row.asleep = None, False
    if open_prs is not None:
        s.execute(delete(ActivityRow).where(ActivityRow.pr_number.not_in(list(open_prs))))
    old = {r.pr_number: r for r in s.scalars(select(RestRow))}
    resting = {r.pr_number for r in plan.resting}
    gone = set(old) - resting
    if gone:
        s.execute(delete(RestRow).where(RestRow.pr_number.in_(sorted(gone))))
    for rest in plan.resting:
        # Written only where it changed: an unchanged night of sleep writes nothing.
        before = old.get(rest.pr_number)
        since = rest.since or (before.since if before is not None else now)
        fields = {
            "kind": str(rest.kind),
            "since": since,
            "until": rest.until,
            "text": rest.text[:300],
            "without_instance": rest.without_instance,
        }
        if before is None:
            s.add(RestRow(pr_number=rest.pr_number, **fields))
            s.add(event_row(now, "slept", rest.text[:300], rest.pr_number))
            continue
        for name, value in fields.items():
            if getattr(before, name) != value:
                setattr(before, name, value)
    for number in sorted(gone):
        if open_prs is None or number in open_prs:
            s.add(event_row(now, "woke", "awake again", number))
