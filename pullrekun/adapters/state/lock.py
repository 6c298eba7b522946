"""The pass lock: one pass at a time per state DB, released by the OS if the holder dies.

One lock for the whole state DB, whatever the pool: the tables are shared, so two controllers
with different pools on one state DB take turns.

MySQL: ``GET_LOCK`` on a connection held for the whole pass (the server frees it when the
connection drops, so ``kill -9`` never leaves a stale lock). A thread keeps that connection
busy while Ansible runs (a server's ``wait_timeout`` would otherwise drop it and free the lock
silently), and :meth:`PassLock.check` asks the server, before a pass records its outcomes,
whether this connection still holds it. SQLite: ``flock`` on a file beside the database (the
kernel frees it when the process exits; it cannot be lost while the process lives).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError


class LockHeld(RuntimeError):
    """Another pass holds the lock."""


class LockLost(RuntimeError):
    """The lock this pass held is gone (its connection dropped): another pass may be running."""


#: Seconds between the keep-alive queries on the lock's connection.
KEEPALIVE_SECONDS = 30.0


class PassLock:
    """A held pass lock. ``check()`` raises :class:`LockLost` if it is no longer held."""

    def __init__(self, description: str) -> None:
        self.description = description

    def check(self) -> None:
        return None


class _MySQLLock(PassLock):
    def __init__(self, conn: Connection, key: str) -> None:
        super().__init__(f"the MySQL lock {key!r}")
        self._conn = conn
        self._key = key
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keepalive, name="pass-lock-keepalive", daemon=True)

    def _query(self, sql: str) -> object:
        with self._mutex:
            return self._conn.execute(text(sql), {"k": self._key}).scalar()

    def _keepalive(self) -> None:
        while not self._stop.wait(KEEPALIVE_SECONDS):
            with contextlib.suppress(SQLAlchemyError):
                self._query("SELECT 1")  # a dropped connection is found by check()

    def check(self) -> None:
        try:
            mine = self._query("SELECT IS_USED_LOCK(:k) = CONNECTION_ID()")
        except SQLAlchemyError as exc:
            raise LockLost(f"lost {self.description}: its connection failed ({type(exc).__name__})") from exc
        if mine != 1:
            raise LockLost(f"lost {self.description}: this pass no longer holds it")

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with contextlib.suppress(SQLAlchemyError):
            self._query("SELECT RELEASE_LOCK(:k)")


@contextlib.contextmanager
def pass_lock(engine: Engine) -> Iterator[PassLock]:
    if engine.dialect.name == "sqlite":
        with _flock(_sqlite_lock_path(engine)) as held:
            yield held
    elif engine.dialect.name in {"mysql", "mariadb"}:
        with _mysql_lock(engine) as held:
            yield held
    else:
        raise RuntimeError(f"no pass lock for database dialect {engine.dialect.name!r}")


def _sqlite_lock_path(engine: Engine) -> Path:
    db = engine.url.database
    if not db or db == ":memory:":
        raise RuntimeError("the pass lock needs a SQLite file, not an in-memory database")
    return Path(f"{db}.lock")


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[PassLock]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another pass holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield PassLock(str(path))
    finally:
        os.close(fd)


def mysql_lock_name(engine: Engine) -> str:
    """Lock names are server-wide: the state DB's name keeps two state DBs on one server apart."""
    return f"pullrekun:{engine.url.database or ''}"[:64]


@contextlib.contextmanager
def _mysql_lock(engine: Engine) -> Iterator[PassLock]:
    key = mysql_lock_name(engine)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT GET_LOCK(:k, 0)"), {"k": key}).scalar()
        if got != 1:
            raise LockHeld(f"another pass holds the MySQL lock {key!r}")
        held = _MySQLLock(conn, key)
        held._thread.start()
        try:
            yield held
        finally:
            held.release()
