"""The requests inbox: what people asked of environments, instances and the schema table, from
the dashboard, the API or the CLI. Surfaces only record; the next pass's planner decides."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema import AssignmentRow, InstanceRequestRow, SchemaSourceRow
from pullrekun.adapters.state.sleep import active
from pullrekun.core.model import InstanceRequest, InstanceWish

_WISH_TEXT = {
    InstanceWish.RUNNING: "keep running while free",
    InstanceWish.RETIRE: "take out of the pool",
    InstanceWish.REGISTER: "tag into the pool",
    InstanceWish.TERMINATE: "terminate (launched by pullrekun)",
}


class Requests:
    def __init__(self, db: Database) -> None:
        self._db = db

    def reset(self, pr_number: int, now: dt.datetime, actor: str | None = None) -> bool:
        """Ask the next pass for a fresh clone of the PR's schema; False if it holds no instance."""
        with self._db.session() as s, s.begin():
            row = s.get(AssignmentRow, pr_number)
            if row is None:
                return False
            row.db_reset_requested = True
            active(s, pr_number, now)
            message = "fresh copy of the schema"
            s.add(event_row(now, "reset_requested", message, pr_number, row.instance_id, actor))
            return True

    def sleep(self, pr_number: int, asleep: bool, now: dt.datetime, actor: str | None = None) -> bool:
        """Ask the next pass to stop the PR's instance and keep it stopped (or to wake it up);
        False if the PR holds no instance."""
        with self._db.session() as s, s.begin():
            row = s.get(AssignmentRow, pr_number)
            if row is None:
                return False
            row.asleep = asleep
            kind, message = (
                ("stop_requested", "stop until woken") if asleep else ("wake_requested", "wake up")
            )
            s.add(event_row(now, kind, message, pr_number, row.instance_id, actor))
            return True

    def redeploy(self, pr_number: int, now: dt.datetime, actor: str | None = None) -> bool:
        """Ask the next pass to deploy the PR's commit again; False if it holds no instance."""
        with self._db.session() as s, s.begin():
            row = s.get(AssignmentRow, pr_number)
            if row is None:
                return False
            row.redeploy_requested = True
            active(s, pr_number, now)
            s.add(event_row(now, "redeploy_requested", "deploy again", pr_number, row.instance_id, actor))
            return True

    def instance_wishes(self) -> tuple[InstanceRequest, ...]:
        with self._db.session() as s:
            rows = s.scalars(select(InstanceRequestRow).order_by(InstanceRequestRow.instance_id))
            return tuple(InstanceRequest(r.instance_id, InstanceWish(r.wish), r.actor) for r in rows)

    def instance_wish(
        self, instance_id: str, wish: InstanceWish | None, now: dt.datetime, actor: str | None = None
    ) -> None:
        """Record what ``actor`` wants of an instance (None: no wish any more, e.g. let a free
        instance be stopped); the next pass's planner decides what that takes."""
        with self._db.session() as s, s.begin():
            row = s.get(InstanceRequestRow, instance_id)
            if wish is None:
                if row is not None:
                    s.delete(row)
                s.add(event_row(now, "stop_requested", "no longer kept running", None, instance_id, actor))
                return
            if row is None:
                row = InstanceRequestRow(instance_id=instance_id)
                s.add(row)
            row.wish, row.actor, row.requested_at = wish.value, actor, now
            s.add(event_row(now, f"{wish.value}_requested", _WISH_TEXT[wish], None, instance_id, actor))

    def close_instance_wish(
        self, instance_id: str, kind: str, message: str, now: dt.datetime, actor: str | None = None
    ) -> None:
        """A pass carried out (or gave up on) a registration or retirement: say so, forget the wish."""
        with self._db.session() as s, s.begin():
            s.execute(delete(InstanceRequestRow).where(InstanceRequestRow.instance_id == instance_id))
            s.add(event_row(now, kind, self._db.redact(message), None, instance_id, actor))

    def schema_sources(self) -> tuple[tuple[str, str, str | None, dt.datetime], ...]:
        """The dashboard's edits of the developer -> schema table: (login, schema, who, when)."""
        with self._db.session() as s:
            rows = s.scalars(select(SchemaSourceRow).order_by(SchemaSourceRow.login))
            return tuple((r.login, r.schema_name, r.actor, r.updated_at) for r in rows)

    def edited_authors(self) -> dict[str, str]:
        """The dashboard's edits of the developer -> schema table, login -> schema."""
        return {login: schema for login, schema, _, _ in self.schema_sources()}

    def set_schema_source(
        self, login: str, schema: str | None, now: dt.datetime, actor: str | None = None
    ) -> None:
        """Set a developer's schema (None: back to the config's value, if any)."""
        key = login.lower()
        with self._db.session() as s, s.begin():
            row = s.get(SchemaSourceRow, key)
            if schema is None:
                if row is not None:
                    s.delete(row)
                s.add(event_row(now, "schema_table", f"{key}: back to the config's schema", actor=actor))
                return
            if row is None:
                row = SchemaSourceRow(login=key)
                s.add(row)
            row.schema_name, row.actor, row.updated_at = schema, actor, now
            s.add(event_row(now, "schema_table", f"{key} -> {schema}", actor=actor))
