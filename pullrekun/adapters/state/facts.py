"""Small facts kept between passes, one key-value table each: GitHub's (rate limit, back-off,
the App token's expiry) and the release notices' (production's last read, the draft release)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TypeAlias

from sqlalchemy import delete, select

from pullrekun.adapters.state.engine import Database
from pullrekun.adapters.state.schema import GitHubStateRow, ReleaseFactRow

FactRow: TypeAlias = type[GitHubStateRow] | type[ReleaseFactRow]


class Facts:
    def __init__(self, db: Database, row: FactRow) -> None:
        self._db = db
        self._row = row

    def read(self) -> dict[str, str]:
        with self._db.session() as s:
            return {key: value for key, value in s.execute(select(self._row.key, self._row.value))}

    def write(self, values: Mapping[str, str | None], now: dt.datetime) -> None:
        """Set (or, with None, delete) facts in one transaction."""
        with self._db.session() as s, s.begin():
            for key, value in values.items():
                if value is None:
                    s.execute(delete(self._row).where(self._row.key == key))
                else:
                    s.merge(self._row(key=key, value=value, updated_at=now))
