"""The state DB's engine, its migrations and what every aggregate shares: a session factory and
the redaction of the messages it writes."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pullrekun.adapters.state.schema import EventRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest Alembic revision; a test checks it against the migrations folder.
HEAD_REVISION = "0017"
#: The longest message kept (MySQL's TEXT holds 64 KiB; one line of a PR's output can be longer).
MESSAGE_LIMIT = 16000


def fit(message: str) -> str:
    """A message cut to what a row keeps; the end (where the failure is) is kept."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    return f"… ({len(message) - MESSAGE_LIMIT} characters left out)\n{message[-MESSAGE_LIMIT:]}"


def event_row(
    now: dt.datetime,
    kind: str,
    message: str,
    pr_number: int | None = None,
    instance_id: str | None = None,
    actor: str | None = None,
) -> EventRow:
    """An activity-log row, written in the same transaction as what it tells of."""
    return EventRow(
        at=now,
        kind=kind,
        pr_number=pr_number,
        instance_id=instance_id,
        message=fit(message),
        actor=None if actor is None else actor[:100],
    )


def _private_sqlite_file(database: str | None) -> None:
    """An SQLite state file is created 0600: it holds what pullrekun knows about every environment."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _private_sqlite_file(parsed.database)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision.

    Alembic is imported only when the schema is behind: a pass that finds it current
    (every pass but the first after an upgrade) pays one SELECT, not Alembic's import.
    """
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def unchanged(text: str) -> str:
    return text


class Database:
    """One engine's sessions; ``redact`` is applied to every message an aggregate writes
    (failures, events): what a failed task printed may hold a secret, and the state DB is read
    by ``status``, pages and reports."""

    def __init__(self, engine: Engine, redact: Callable[[str], str] = unchanged) -> None:
        self.engine = engine
        self.redact = redact
        self._session = sessionmaker(engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._session()
