"""What the pool's instances ran, as passes observed it (pullrekun.core.cost), and the months
an admin lifted the budget for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import or_, select, update

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema_sleep import BudgetLiftRow, UsageRow
from pullrekun.core.cost import Stretch, usage_change
from pullrekun.core.model import Instance


def _stretch(r: UsageRow) -> Stretch:
    return Stretch(r.instance_id, r.pr_number, r.instance_type, r.started_at, r.ended_at)


def month_key(now: dt.datetime) -> str:
    return f"{now.astimezone(dt.UTC):%Y-%m}"


class Usage:
    def __init__(self, db: Database) -> None:
        self._db = db

    def stretches(
        self, since: dt.datetime | None = None, pr_numbers: Iterable[int] | None = None
    ) -> tuple[Stretch, ...]:
        """Stretches still open or ended after ``since``; only those of ``pr_numbers`` if given."""
        with self._db.session() as s:
            query = select(UsageRow).order_by(UsageRow.id)
            if since is not None:
                query = query.where(or_(UsageRow.ended_at.is_(None), UsageRow.ended_at > since))
            if pr_numbers is not None:
                query = query.where(UsageRow.pr_number.in_(list(pr_numbers)))
            return tuple(_stretch(r) for r in s.scalars(query))

    def observe(self, instances: Iterable[Instance], holders: Mapping[str, int], now: dt.datetime) -> bool:
        """Record what this observation of the pool changes (True if anything did)."""
        with self._db.session() as s, s.begin():
            rows = s.scalars(select(UsageRow).where(UsageRow.ended_at.is_(None))).all()
            open_now = {r.instance_id: _stretch(r) for r in rows}
            change = usage_change(open_now, instances, holders, now)
            for iid, end in change.close.items():
                s.execute(
                    update(UsageRow)
                    .where(UsageRow.instance_id == iid, UsageRow.ended_at.is_(None))
                    .values(ended_at=end)
                )
            for new in change.open:
                s.add(
                    UsageRow(
                        instance_id=new.instance_id,
                        pr_number=new.pr_number,
                        instance_type=new.instance_type,
                        started_at=new.started_at,
                    )
                )
            return not change.empty

    def budget_lifted(self, now: dt.datetime) -> bool:
        with self._db.session() as s:
            return s.get(BudgetLiftRow, month_key(now)) is not None

    def lift_budget(self, now: dt.datetime, actor: str | None = None) -> None:
        """An admin lets instances start and launch past this month's budget."""
        with self._db.session() as s, s.begin():
            key = month_key(now)
            if s.get(BudgetLiftRow, key) is None:
                s.add(BudgetLiftRow(month=key, actor=actor, lifted_at=now))
                s.add(event_row(now, "budget_lifted", f"monthly budget lifted for {key}", actor=actor))
