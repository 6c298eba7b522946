"""Every open PR as the last pass told its people: what the dashboard lists (pullrekun.core.views)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select

from pullrekun.adapters.state.engine import Database
from pullrekun.adapters.state.schema import OpenPRRow
from pullrekun.core.scenario import Scenario, scenario_from_text
from pullrekun.core.text import neutralise
from pullrekun.core.views import PullRequestView


@dataclass(frozen=True)
class OpenPR:
    number: int
    title: str
    author: str
    sha: str
    phase: str
    detail: str
    since: dt.datetime
    scenario: Scenario | None


class OpenPulls:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, views: Mapping[int, PullRequestView]) -> None:
        """The open PRs as this pass tells them (the others are gone: closed). Rows are written
        only where something changed: a pass that tells the same writes nothing."""
        with self._db.session() as s, s.begin():
            old = {r.pr_number: r for r in s.scalars(select(OpenPRRow))}
            gone = sorted(set(old) - set(views))
            if gone:
                s.execute(delete(OpenPRRow).where(OpenPRRow.pr_number.in_(gone)))
            for number, view in sorted(views.items()):
                fields = {
                    "title": view.pr.title[:256],
                    "author": view.pr.author[:39],
                    "sha": view.pr.head_sha,
                    "phase": str(view.phase),
                    "detail": view.detail[:2000],
                    "since": view.since,
                    "scenario": view.scenario.text if view.scenario is not None else None,
                }
                row = old.get(number)
                if row is None:
                    s.add(OpenPRRow(pr_number=number, **fields))
                    continue
                for name, value in fields.items():
                    if getattr(row, name) != value:
                        setattr(row, name, value)

    def all(self) -> tuple[OpenPR, ...]:
        with self._db.session() as s:
            return tuple(
                OpenPR(
                    r.pr_number,
                    neutralise(r.title),
                    r.author,
                    r.sha,
                    r.phase,
                    r.detail,
                    r.since,
                    scenario_from_text(r.scenario),
                )
                for r in s.scalars(select(OpenPRRow).order_by(OpenPRRow.pr_number))
            )
