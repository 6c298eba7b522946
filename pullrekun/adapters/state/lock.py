"""The pass lock: one pass at a time per state DB, released by the OS if the holder dies.

MySQL: ``GET_LOCK`` on a connection held for the whole pass (the server frees it when
the connection drops, so ``kill -9`` never leaves a stale lock). SQLite: ``flock`` on a
file beside the database (the kernel frees it when the process exits).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text


class LockHeld(RuntimeError):
    """Another pass holds the lock."""


@contextlib.contextmanager
def pass_lock(engine: Engine, name: str) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        with _flock(_sqlite_lock_path(engine, name)):
            yield
    elif engine.dialect.name in {"mysql", "mariadb"}:
        with _mysql_lock(engine, name):
            yield
    else:
        raise RuntimeError(f"no pass lock for database dialect {engine.dialect.name!r}")


def _sqlite_lock_path(engine: Engine, name: str) -> Path:
    db = engine.url.database
    if not db or db == ":memory:":
        raise RuntimeError("the pass lock needs a SQLite file, not an in-memory database")
    return Path(f"{db}.{name}.lock")


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another pass holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _mysql_lock(engine: Engine, name: str) -> Iterator[None]:
    key = f"pullrekun:{name}"
    with engine.connect() as conn:
        got = conn.execute(text("SELECT GET_LOCK(:k, 0)"), {"k": key}).scalar()
        if got != 1:
            raise LockHeld(f"another pass holds the MySQL lock {key!r}")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": key})
