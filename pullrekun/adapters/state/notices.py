"""The release notices' ledger: what production moves were seen, what was posted where.

Every notice is written before it is sent, with one row per chat channel (``pending``); each send
is marked ``sending`` before the request goes out and ``sent`` after it came back. So whatever
instant a pass dies at, the next one knows: a notice never recorded is judged again from
production's sha (the last recorded sha did not move); a ``pending`` send goes out; a ``sending``
one went out or not, which only a channel with an idempotency key can settle by sending again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update

from pullrekun.adapters.state.engine import fit
from pullrekun.adapters.state.schema import NoticeRow, NoticeSendRow
from pullrekun.adapters.state.store import Store

PENDING, SENDING, SENT, UNKNOWN, REFUSED = "pending", "sending", "sent", "unknown", "refused"
#: A send to a PR's preview comment is tracked as channel "pr-<number>".
PR_CHANNEL = "pr-"
#: Kinds of notice that record where production was (the rest are waiting-for-release notices).
MOVES = ("first", "release", "rollback", "unlinked")


@dataclass(frozen=True)
class Send:
    notice_id: int
    channel: str
    state: str
    attempts: int
    error: str | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    previous_sha: str | None
    sha: str | None
    text: str | None
    created_at: dt.datetime
    actor: str | None
    slot: dt.datetime | None
    sends: tuple[Send, ...] = ()


def _send(row: NoticeSendRow) -> Send:
    return Send(row.notice_id, row.channel, row.state, row.attempts, row.error, row.updated_at)


def _notice(row: NoticeRow, sends: Iterable[NoticeSendRow] = ()) -> Notice:
    return Notice(
        row.id, row.kind, row.previous_sha, row.sha, row.text, row.created_at, row.actor, row.slot,
        tuple(_send(s) for s in sends),
    )  # fmt: skip


def _sends(notice_id: int, channels: Iterable[str], now: dt.datetime) -> list[NoticeSendRow]:
    return [
        NoticeSendRow(notice_id=notice_id, channel=c, state=PENDING, attempts=0, updated_at=now)
        for c in channels
    ]


class NoticeLedger:
    def __init__(self, store: Store) -> None:
        self._store = store

    def last_move(self) -> Notice | None:
        """The newest production move recorded (its sha is the last one reported)."""
        with self._store.session() as s:
            row = s.scalars(
                select(NoticeRow).where(NoticeRow.kind.in_(MOVES)).order_by(NoticeRow.id.desc()).limit(1)
            ).first()
            return None if row is None else _notice(row)

    def record(
        self,
        kind: str,
        previous_sha: str | None,
        sha: str | None,
        text: str | None,
        channels: Iterable[str],
        now: dt.datetime,
        *,
        actor: str | None = None,
        slot: dt.datetime | None = None,
    ) -> int:
        """A notice and its sends (``pending``), in one transaction; returns its id."""
        with self._store.session() as s, s.begin():
            row = NoticeRow(
                kind=kind,
                previous_sha=previous_sha,
                sha=sha,
                text=text,
                created_at=now,
                actor=actor,
                slot=slot,
            )
            s.add(row)
            s.flush()
            for channel in channels:
                s.add(
                    NoticeSendRow(
                        notice_id=row.id, channel=channel, state=PENDING, attempts=0, updated_at=now
                    )
                )
            return row.id

    def fill(self, notice_id: int, text: str, channels: Iterable[str], now: dt.datetime) -> None:
        """A requested notice's text, now rendered, and its sends."""
        with self._store.session() as s, s.begin():
            row = s.get(NoticeRow, notice_id)
            assert row is not None
            row.text = text
            for channel in channels:
                s.add(
                    NoticeSendRow(
                        notice_id=notice_id, channel=channel, state=PENDING, attempts=0, updated_at=now
                    )
                )

    def unrendered(self) -> tuple[Notice, ...]:
        """Waiting-for-release notices asked for and not rendered yet, oldest first."""
        with self._store.session() as s:
            rows = s.scalars(select(NoticeRow).where(NoticeRow.text.is_(None), NoticeRow.kind == "pending"))
            return tuple(_notice(r) for r in rows)

    def unsent(self) -> tuple[tuple[Notice, Send], ...]:
        """Sends ``pending`` or left ``sending``, oldest notice first."""
        return self._sends(PENDING, SENDING)

    def _sends(self, *states: str) -> tuple[tuple[Notice, Send], ...]:
        with self._store.session() as s:
            rows = s.execute(
                select(NoticeRow, NoticeSendRow)
                .join(NoticeSendRow, NoticeSendRow.notice_id == NoticeRow.id)
                .where(NoticeSendRow.state.in_(states))
                .order_by(NoticeRow.id, NoticeSendRow.channel)
            ).all()
            return tuple((_notice(n), _send(send)) for n, send in rows)

    def mark(
        self, notice_id: int, channel: str, state: str, now: dt.datetime, error: str | None = None
    ) -> None:
        """Move one send to ``state`` (``sending`` counts an attempt), committed before returning."""
        values: dict[str, object] = {"state": state, "updated_at": now}
        if state == SENDING:
            values["attempts"] = NoticeSendRow.attempts + 1
        if error is not None or state == SENT:
            values["error"] = fit(self._store.redact(error)) if error else None
        with self._store.session() as s, s.begin():
            s.execute(
                update(NoticeSendRow)
                .where(NoticeSendRow.notice_id == notice_id, NoticeSendRow.channel == channel)
                .values(**values)
            )

    def recent(self, limit: int = 10) -> tuple[Notice, ...]:
        """The newest notices with their sends, newest first."""
        with self._store.session() as s:
            rows = s.scalars(select(NoticeRow).order_by(NoticeRow.id.desc()).limit(limit)).all()
            ids = [r.id for r in rows]
            sends = s.scalars(select(NoticeSendRow).where(NoticeSendRow.notice_id.in_(ids))).all()
            return tuple(_notice(r, [x for x in sends if x.notice_id == r.id]) for r in rows)

    def unknown(self) -> tuple[tuple[Notice, Send], ...]:
        """Sends a pass died in the middle of, on a channel that cannot be asked again safely."""
        return self._sends(UNKNOWN)

    def last_for_pr(self, number: int) -> Notice | None:
        """The newest release or rollback that named PR ``number`` (its comment says so)."""
        with self._store.session() as s:
            row = s.scalars(
                select(NoticeRow)
                .join(NoticeSendRow, NoticeSendRow.notice_id == NoticeRow.id)
                .where(NoticeSendRow.channel == f"{PR_CHANNEL}{number}")
                .order_by(NoticeRow.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _notice(row)

    def resend(self, notice_id: int, now: dt.datetime, actor: str | None) -> bool:
        """Someone asks to send again what may not have arrived (``unknown``): pending again."""
        with self._store.session() as s, s.begin():
            rows = s.scalars(
                select(NoticeSendRow).where(
                    NoticeSendRow.notice_id == notice_id, NoticeSendRow.state == UNKNOWN
                )
            ).all()
            if not rows:
                return False
            for row in rows:
                row.state, row.updated_at = PENDING, now
        self._store.events.add(now, "notice_resend", f"notice {notice_id}: send again", actor=actor)
        return True

    def last_scheduled(self) -> dt.datetime | None:
        """The newest schedule time a waiting-for-release notice was recorded for."""
        with self._store.session() as s:
            return s.scalars(
                select(NoticeRow.slot)
                .where(NoticeRow.slot.is_not(None))
                .order_by(NoticeRow.slot.desc())
                .limit(1)
            ).first()
