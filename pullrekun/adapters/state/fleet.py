"""pullrekun's launch records: what it launched, for what, and how each instance's life went.

A launch is written with the intent of the pass that asks for it (its client token before the
EC2 call), so a pass killed at any point leaves a record the next pass finishes from: the same
token asked again, or the instance found by its tag and adopted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pullrekun.adapters.state.engine import Database, event_row, fit
from pullrekun.adapters.state.schema import LaunchRequestRow, LaunchRow, UntrustedHostRow
from pullrekun.core.fleet import (
    AdoptLaunch,
    ForgetLaunch,
    ForgetLaunchRequest,
    LaunchInstance,
    LaunchRecord,
    LaunchRequest,
)
from pullrekun.core.model import Assign, Plan, Unassign

#: How many ended launches the state DB keeps (the pool table's history).
KEEP_ENDED = 200


@dataclass(frozen=True)
class LaunchHistory:
    """A launch as the pool table and ``status`` show it."""

    token: str
    reason: str
    requested_at: dt.datetime
    instance_id: str | None
    attempts: int
    failure: str | None
    retry_at: dt.datetime | None
    bootstrapped_at: dt.datetime | None
    terminated_at: dt.datetime | None
    end_reason: str | None
    protected: bool
    actor: str | None


def _record(r: LaunchRow) -> LaunchRecord:
    return LaunchRecord(
        r.token,
        r.requested_at,
        r.reason,
        r.instance_id,
        r.attempts,
        r.failure,
        r.retry_at,
        bootstrapped=r.bootstrapped_at is not None,
        served=bool(r.served),
        idle_since=r.idle_since,
        protected=bool(r.protected),
        terminated=r.terminated_at is not None,
    )


def record_fleet_intent(s: Session, plan: Plan, now: dt.datetime, actor: str | None = None) -> None:
    """The plan's launches (before any EC2 call), adoptions, forgotten launches, and the managed
    instances given to or released by PRs (their idle time), in the intent's transaction."""
    for launch in plan.of_type(LaunchInstance):
        if launch.request_id is not None:
            s.execute(delete(LaunchRequestRow).where(LaunchRequestRow.id == launch.request_id))
        row = s.get(LaunchRow, launch.token)
        if row is None:
            s.add(
                LaunchRow(
                    token=launch.token,
                    reason=launch.reason[:200],
                    for_pr=launch.for_prs[0] if launch.for_prs else None,
                    actor=launch.actor or actor,
                    requested_at=now,
                    attempts=1,
                    served=False,
                    protected=False,
                )
            )
            said = f"{launch.token}: {launch.reason}"[:2000]
            s.add(event_row(now, "launch_requested", said, None, actor=launch.actor or actor))
        else:
            row.attempts += 1
    for adopt in plan.of_type(AdoptLaunch):
        row = s.get(LaunchRow, adopt.token)
        if row is not None:
            row.instance_id, row.failure, row.retry_at = adopt.instance_id, None, None
            row.idle_since = row.idle_since or now
            s.add(
                event_row(
                    now, "launched", f"launched by {adopt.token} ({row.reason})", None, adopt.instance_id
                )
            )
    for refused in plan.of_type(ForgetLaunchRequest):
        s.execute(delete(LaunchRequestRow).where(LaunchRequestRow.id == refused.request_id))
        said = f"no instance launched: {refused.reason}"
        s.add(event_row(now, "launch_refused", said, None, actor=refused.actor))
    for forget in plan.of_type(ForgetLaunch):
        s.execute(delete(LaunchRow).where(LaunchRow.token == forget.token))
        s.add(event_row(now, "launch_forgotten", f"{forget.token}: {forget.reason}", None))
    given = {a.instance_id for a in plan.of_type(Assign)}
    released = {u.instance_id for u in plan.of_type(Unassign)} - given
    if given | released:
        for row in s.scalars(select(LaunchRow).where(LaunchRow.instance_id.in_(given | released))):
            if row.instance_id in given:
                row.served, row.idle_since = True, None
            else:
                row.idle_since = now


class Fleet:
    def __init__(self, db: Database) -> None:
        self._db = db

    def records(self) -> tuple[LaunchRecord, ...]:
        """Launches whose instance was not terminated, oldest first."""
        with self._db.session() as s:
            rows = s.scalars(
                select(LaunchRow).where(LaunchRow.terminated_at.is_(None)).order_by(LaunchRow.requested_at)
            )
            return tuple(_record(r) for r in rows)

    def ask_launch(self, now: dt.datetime, actor: str | None = None) -> None:
        """Someone asks for one more instance; the next pass decides."""
        with self._db.session() as s, s.begin():
            s.add(LaunchRequestRow(actor=actor, requested_at=now))
            s.add(event_row(now, "launch_asked", "one more instance", None, actor=actor))

    def launch_requests(self) -> tuple[LaunchRequest, ...]:
        with self._db.session() as s:
            rows = s.scalars(select(LaunchRequestRow).order_by(LaunchRequestRow.id))
            return tuple(LaunchRequest(r.id, r.actor) for r in rows)

    def history(self, limit: int = 50) -> tuple[LaunchHistory, ...]:
        """The latest launches, live and ended, newest first."""
        with self._db.session() as s:
            rows = s.scalars(select(LaunchRow).order_by(LaunchRow.requested_at.desc()).limit(limit))
            return tuple(
                LaunchHistory(
                    r.token,
                    r.reason,
                    r.requested_at,
                    r.instance_id,
                    r.attempts,
                    r.failure,
                    r.retry_at,
                    r.bootstrapped_at,
                    r.terminated_at,
                    r.end_reason,
                    bool(r.protected),
                    r.actor,
                )
                for r in rows
            )

    def record_launches(self, plan: Plan, now: dt.datetime) -> None:
        """The plan's launches, adoptions and forgotten launches, before the launch run (the rest
        of the plan is recorded with the plan made after it)."""
        kinds = (LaunchInstance, AdoptLaunch, ForgetLaunch, ForgetLaunchRequest)
        fleet_only = Plan(actions=tuple(a for a in plan.actions if isinstance(a, kinds)))
        with self._db.session() as s, s.begin():
            record_fleet_intent(s, fleet_only, now)

    def launch_failed(
        self, token: str, message: str, now: dt.datetime, retry_at: Callable[[dt.datetime, int], dt.datetime]
    ) -> bool:
        """EC2 refused a launch: it is retried at ``retry_at(now, attempts)``. Returns whether this
        is news (a failure said before is not said again: the activity log gets it once per
        distinct reason)."""
        message = fit(self._db.redact(message))
        with self._db.session() as s, s.begin():
            row = s.get(LaunchRow, token)
            if row is None:
                return False
            news = row.failure != message
            row.failure, row.retry_at = message, retry_at(now, row.attempts)
            if news:
                s.add(event_row(now, "launch_failed", f"{token}: {message}"[:2000], row.for_pr))
            return news

    def bootstrapped(self, instance_ids: Iterable[str], now: dt.datetime) -> None:
        ids = set(instance_ids)
        if not ids:
            return
        with self._db.session() as s, s.begin():
            for row in s.scalars(select(LaunchRow).where(LaunchRow.instance_id.in_(ids))):
                if row.bootstrapped_at is None:
                    row.bootstrapped_at = now
                    s.add(
                        event_row(now, "bootstrapped", "roles/staging bootstrapped it", None, row.instance_id)
                    )

    def terminated(self, ended: Mapping[str, str], now: dt.datetime) -> None:
        """Instances the playbook terminated (id -> why): their launches end, and what was
        recorded of the code they ran goes with them."""
        if not ended:
            return
        with self._db.session() as s, s.begin():
            for row in s.scalars(select(LaunchRow).where(LaunchRow.instance_id.in_(list(ended)))):
                row.terminated_at, row.end_reason = now, ended[row.instance_id or ""][:200]
            for iid, why in ended.items():
                s.execute(delete(UntrustedHostRow).where(UntrustedHostRow.instance_id == iid))
                s.add(event_row(now, "terminated", why[:2000], None, iid))
            # Ended launches are history for the pool table: the newest KEEP_ENDED are enough.
            newest_first = select(LaunchRow.token).where(LaunchRow.terminated_at.is_not(None))
            newest_first = newest_first.order_by(LaunchRow.terminated_at.desc(), LaunchRow.token)
            ended_tokens = s.scalars(newest_first).all()
            if len(ended_tokens) > KEEP_ENDED:
                s.execute(delete(LaunchRow).where(LaunchRow.token.in_(ended_tokens[KEEP_ENDED:])))

    def protected(self, refused: Mapping[str, str], now: dt.datetime) -> None:
        """EC2 refused to terminate these (termination protection): never asked again."""
        if not refused:
            return
        with self._db.session() as s, s.begin():
            for row in s.scalars(select(LaunchRow).where(LaunchRow.instance_id.in_(list(refused)))):
                if not row.protected:
                    row.protected = True
                    message = f"not terminated: {refused[row.instance_id or '']}"[:2000]
                    s.add(event_row(now, "terminate_refused", message, None, row.instance_id))
