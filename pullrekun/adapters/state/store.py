"""The state DB, one aggregate per kind of record, all over the same engine.

Each aggregate's methods are one transaction each:

- :class:`~pullrekun.adapters.state.journal.Journal`: environments, the pass's intent and outcomes;
- :class:`~pullrekun.adapters.state.requests.Requests`: what people asked (the inbox);
- :class:`~pullrekun.adapters.state.events.Events`: the activity log;
- :class:`~pullrekun.adapters.state.httpcache.HttpCache`: GitHub pages with their ETags;
- :class:`~pullrekun.adapters.state.reports.ReportLedger`: what each channel was last told;
- :class:`~pullrekun.adapters.state.facts.Facts`: GitHub's facts and the release notices' facts;
- :class:`~pullrekun.adapters.state.fleet.Fleet`: the launches pullrekun made, and their ends;
- :class:`~pullrekun.adapters.state.sleep.Sleep`: each PR's activity, wakes and pins, and who sleeps;
- :class:`~pullrekun.adapters.state.usage.Usage`: what instances ran (cost), budget lifts;
- :class:`~pullrekun.adapters.state.servers.Servers`: developers' servers' schedule switches;
- :class:`~pullrekun.adapters.state.pulls.OpenPulls`: every open PR as the last pass told it;
- :class:`~pullrekun.adapters.state.signoffs.SignOffs`: sign-offs on previews;
- :class:`~pullrekun.adapters.state.settings.PRSettings`: PRs' own settings.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pullrekun.adapters.state.engine import Database, make_engine, migrate, unchanged
from pullrekun.adapters.state.events import Events
from pullrekun.adapters.state.facts import Facts
from pullrekun.adapters.state.fleet import Fleet
from pullrekun.adapters.state.httpcache import HttpCache
from pullrekun.adapters.state.journal import Journal
from pullrekun.adapters.state.pulls import OpenPulls
from pullrekun.adapters.state.reports import ReportLedger
from pullrekun.adapters.state.requests import Requests
from pullrekun.adapters.state.schema import GitHubStateRow, ReleaseFactRow
from pullrekun.adapters.state.servers import Servers
from pullrekun.adapters.state.settings import PRSettings
from pullrekun.adapters.state.signoffs import SignOffs
from pullrekun.adapters.state.sleep import Sleep
from pullrekun.adapters.state.usage import Usage


class Store:
    """``redact`` is applied to every message the store writes (failures, events): what a failed
    task printed may hold a secret, and the state DB is read by ``status``, pages and reports."""

    def __init__(self, engine: Engine, redact: Callable[[str], str] = unchanged) -> None:
        self.engine = engine
        self.redact = redact
        self.db = Database(engine, redact)
        self.journal = Journal(self.db)
        self.fleet = Fleet(self.db)
        self.requests = Requests(self.db)
        self.sleep = Sleep(self.db)
        self.usage = Usage(self.db)
        self.servers = Servers(self.db)
        self.pulls = OpenPulls(self.db)
        self.signoffs = SignOffs(self.db)
        self.settings = PRSettings(self.db)
        self.events = Events(self.db)
        self.http_cache = HttpCache(self.db)
        self.reports = ReportLedger(self.db)
        self.github_facts = Facts(self.db, GitHubStateRow)
        self.release_facts = Facts(self.db, ReleaseFactRow)

    @classmethod
    def open(cls, url: str, redact: Callable[[str], str] = unchanged) -> Store:
        engine = make_engine(url)
        migrate(engine)
        return cls(engine, redact)

    def redacting(self, redact: Callable[[str], str]) -> Store:
        """This store (same engine), writing its messages through ``redact``."""
        return Store(self.engine, redact)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return self.db.session()
