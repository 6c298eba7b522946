"""Developers' servers on a schedule: the last schedule change acted on per server, and the
*Start now* / *Stop now* people ask for (pullrekun.core.servers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema_sleep import ServerSwitchRow
from pullrekun.core.model import Plan
from pullrekun.core.servers import MarkServer, ServerRecord, ServerWish, SwitchServer


def _row(s: Session, instance_id: str, now: dt.datetime) -> ServerSwitchRow:
    row = s.get(ServerSwitchRow, instance_id)
    if row is None:
        row = ServerSwitchRow(instance_id=instance_id, updated_at=now)
        s.add(row)
    return row


class Servers:
    def __init__(self, db: Database) -> None:
        self._db = db

    def records(self) -> dict[str, ServerRecord]:
        with self._db.session() as s:
            return {
                r.instance_id: ServerRecord(
                    r.instance_id, r.handled, ServerWish(r.wish) if r.wish else None, r.wish_until, r.actor
                )
                for r in s.scalars(select(ServerSwitchRow))
            }

    def wish(self, instance_id: str, wish: ServerWish, now: dt.datetime, actor: str | None = None) -> None:
        """*Start now* / *Stop now*: it holds until the server's schedule next changes."""
        with self._db.session() as s, s.begin():
            row = _row(s, instance_id, now)
            # wish_until keeps when it was asked: the planner holds it until the next change.
            row.wish, row.wish_until, row.actor, row.updated_at = wish.value, now, actor, now
            s.add(
                event_row(
                    now, f"server_{wish.value}_requested", f"{wish.value} now", None, instance_id, actor
                )
            )

    def switched(self, done: Mapping[SwitchServer, bool], now: dt.datetime) -> None:
        """The playbook's answer for each switch: the schedule change recorded as acted on (or
        the failure said; the next pass tries again)."""
        if not done:
            return
        with self._db.session() as s, s.begin():
            for switch, ok in done.items():
                verb = "started" if switch.running else "stopped"
                if ok:
                    row = _row(s, switch.instance_id, now)
                    row.handled, row.updated_at = switch.handled, now
                    message = f"{verb}: {switch.reason}"
                else:
                    message = f"could not be {verb} ({switch.reason}); tried again on the next pass"
                kind = f"server_{verb}" if ok else "server_switch_failed"
                s.add(event_row(now, kind, message, None, switch.instance_id, switch.actor))


def record_server_intent(s: Session, plan: Plan, now: dt.datetime) -> None:
    """Servers already as their schedule wants: the change is recorded as acted on."""
    for mark in plan.of_type(MarkServer):
        row = _row(s, mark.instance_id, now)
        row.handled, row.updated_at = mark.handled, now
