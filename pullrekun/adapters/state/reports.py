"""The report ledger: what each channel was last told about each PR (a fingerprint), so an
unchanged state sends nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select

from pullrekun.adapters.state.engine import Database
from pullrekun.adapters.state.schema import ReportRow


@dataclass(frozen=True)
class Reported:
    """What one channel was last told about one PR."""

    pr_number: int
    channel: str
    fingerprint: str
    sha: str | None
    github_id: int | None


class ReportLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def last_sent(self) -> dict[tuple[int, str], Reported]:
        """By (PR, channel)."""
        with self._db.session() as s:
            return {
                (r.pr_number, r.channel): Reported(r.pr_number, r.channel, r.fingerprint, r.sha, r.github_id)
                for r in s.scalars(select(ReportRow))
            }

    def save(self, rep: Reported, now: dt.datetime) -> None:
        with self._db.session() as s, s.begin():
            s.merge(
                ReportRow(
                    pr_number=rep.pr_number,
                    channel=rep.channel,
                    fingerprint=rep.fingerprint,
                    sha=rep.sha,
                    github_id=rep.github_id,
                    updated_at=now,
                )
            )

    def forget(self, pr_number: int) -> None:
        with self._db.session() as s, s.begin():
            s.execute(delete(ReportRow).where(ReportRow.pr_number == pr_number))
