"""The activity log: what happened, to which PR or instance, and who asked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import func, select

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema import EventRow


class Events:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        now: dt.datetime,
        kind: str,
        message: str,
        pr_number: int | None = None,
        instance_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        with self._db.session() as s, s.begin():
            s.add(event_row(now, kind, self._db.redact(message), pr_number, instance_id, actor))

    def recent(self, limit: int = 50, kinds: Collection[str] | None = None) -> tuple[EventRow, ...]:
        """The newest ``limit`` events (of these ``kinds``, when given), newest first."""
        query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
        if kinds is not None:
            query = query.where(EventRow.kind.in_(list(kinds)))
        with self._db.session() as s:
            return tuple(s.scalars(query).all())

    def count_since(self, kinds: Collection[str], since: dt.datetime) -> int:
        """How many events of these ``kinds`` happened since ``since``."""
        query = select(func.count()).select_from(EventRow)
        query = query.where(EventRow.kind.in_(list(kinds)), EventRow.at >= since)
        with self._db.session() as s:
            return int(s.scalar(query) or 0)
