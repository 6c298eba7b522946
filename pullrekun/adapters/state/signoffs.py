"""Sign-offs on previews (pullrekun.core.signoff): recorded with who and the commit served."""

from __future__ import annotations

from sqlalchemy import func, select

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema import SignOffRow
from pullrekun.core.signoff import SignOff


def _signoff(r: SignOffRow) -> SignOff:
    return SignOff(r.pr_number, r.sha, r.ok, r.note, r.actor, r.at)


class SignOffs:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, signoff: SignOff) -> None:
        with self._db.session() as s, s.begin():
            s.add(
                SignOffRow(
                    pr_number=signoff.pr_number,
                    sha=signoff.sha,
                    ok=signoff.ok,
                    note=signoff.note,
                    actor=signoff.actor,
                    at=signoff.at,
                )
            )
            what = (
                f"verified at {signoff.sha[:12]}"
                if signoff.ok
                else f"problem found at {signoff.sha[:12]}: {signoff.note}"
            )
            kind = "verified" if signoff.ok else "problem_found"
            s.add(event_row(signoff.at, kind, self._db.redact(what), signoff.pr_number, None, signoff.actor))

    def latest(self) -> dict[int, SignOff]:
        """Each PR's newest sign-off."""
        with self._db.session() as s:
            newest = select(func.max(SignOffRow.id)).group_by(SignOffRow.pr_number)
            return {
                r.pr_number: _signoff(r)
                for r in s.scalars(select(SignOffRow).where(SignOffRow.id.in_(newest)))
            }

    def history(self, pr_number: int, limit: int = 50) -> tuple[SignOff, ...]:
        """A PR's sign-offs, newest first."""
        with self._db.session() as s:
            rows = s.scalars(
                select(SignOffRow)
                .where(SignOffRow.pr_number == pr_number)
                .order_by(SignOffRow.id.desc())
                .limit(limit)
            )
            return tuple(_signoff(r) for r in rows)
