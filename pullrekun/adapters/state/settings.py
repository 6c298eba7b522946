"""A PR's own settings as people set them on the dashboard ([app] pr_settings; its labels are
read from GitHub each pass): recorded with who, the next pass writes them to app.env."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from pullrekun.adapters.state.engine import Database, event_row
from pullrekun.adapters.state.schema import PRSettingRow


class PRSettings:
    def __init__(self, db: Database) -> None:
        self._db = db

    def recorded(self) -> dict[int, dict[str, str]]:
        with self._db.session() as s:
            found: dict[int, dict[str, str]] = {}
            for r in s.scalars(select(PRSettingRow)):
                found.setdefault(r.pr_number, {})[r.name] = r.value
            return found

    def set(self, pr_number: int, name: str, value: str | None, now: dt.datetime, actor: str | None) -> None:
        """Set (or with None, remove) one setting of PR ``pr_number``."""
        with self._db.session() as s, s.begin():
            s.execute(
                delete(PRSettingRow).where(PRSettingRow.pr_number == pr_number, PRSettingRow.name == name)
            )
            if value is not None:
                s.add(PRSettingRow(pr_number=pr_number, name=name, value=value, actor=actor, updated_at=now))
            said = f"{name}={value}" if value is not None else f"{name} removed"
            s.add(event_row(now, "setting_changed", said, pr_number, None, actor))
