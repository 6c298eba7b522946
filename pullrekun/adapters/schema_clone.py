"""Clone a MySQL/MariaDB schema into another on the same server, server-side and verified.

The copy is built in ``<target>__prk_new`` (tables from ``SHOW CREATE TABLE`` so foreign
keys, indexes, generated columns and AUTO_INCREMENT counters survive; data by
``INSERT ... SELECT`` with foreign key and unique checks off, several tables at once on
their own connections, biggest first) and verified table by table with ``CHECKSUM TABLE``
against the source. Until then the target is never touched, so a failed or killed copy
leaves the previous schema as it was; the next clone drops the leftovers first.

Then the target is replaced whole: it is dropped (with whatever its last owner left in it:
events, routines, triggers, views, sequences, tables) and created again, one ``RENAME TABLE``
moves the new tables in, and triggers, views (re-pointed at the target) and stored routines
are created from the source's definitions. Events are not copied: a source's scheduled jobs
would run in every environment.

Each environment has a user of its own (:func:`ensure_env_user`) with every right on its
schema and none elsewhere; cloned triggers, views and routines get that user as their definer,
so they never run with the admin's rights. A clone gives the user the password it was given
(a new one for each owner of the schema: pullrekun.core.dbusers) and ends the sessions opened
with the old one before any of the new copy is in place. Dropping the schema drops the user
and ends its sessions.

Schema names must match ``pullrekun.core.validate.SCHEMA_RE`` and are always backquoted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pymysql

from pullrekun.adapters.env_users import EnvUser, end_sessions, ensure_user, user_exists
from pullrekun.adapters.mysql import Server, Session, q, schema_exists, session
from pullrekun.adapters.schema_copy import CloneError, copy_here, copy_remote
from pullrekun.core.dbsources import SYSTEM_SCHEMAS, SourceRule
from pullrekun.core.validate import check_schema

NEW_SUFFIX = "__prk_new"
OLD_SUFFIX = "__prk_old"
MAX_TARGET_LEN = 64 - max(len(NEW_SUFFIX), len(OLD_SUFFIX))
_DEFINER = re.compile(r"DEFINER\s*=\s*(`[^`]*`|'[^']*'|\S+)@(`[^`]*`|'[^']*'|\S+)\s*", re.IGNORECASE)
_CREATE = re.compile(r"\A\s*CREATE\s+", re.IGNORECASE)


@dataclass(frozen=True)
class CloneResult:
    source: str
    target: str
    tables: int
    rows: int
    views: int
    triggers: int
    routines: int
    seconds: float


def repoint(sql: str, source: str, target: str, definer: str | None = None) -> str:
    """Point ``source``-qualified names at ``target`` and make ``definer`` the object's definer
    (None: drop the DEFINER clause, so the creating user becomes the definer)."""
    if definer is None:
        sql = _DEFINER.sub("", sql)
    elif _DEFINER.search(sql):
        sql = _DEFINER.sub(lambda _m: f"DEFINER={definer} ", sql, count=1)
    else:
        sql = _CREATE.sub(f"CREATE DEFINER={definer} ", sql, count=1)
    sql = sql.replace(f"{q(source)}.", f"{q(target)}.")
    # A trigger's definition is kept as it was typed: its names may be qualified unquoted.
    return re.sub(rf"(?<![\w$`.]){re.escape(source)}\.", f"{q(target)}.", sql)


def _objects(s: Session, schema: str) -> dict[str, list[str]]:
    """Definitions of the schema's tables, triggers, views and routines (as re-creatable SQL)."""
    tables = s.names(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE' "
        "ORDER BY TABLE_NAME",
        schema,
    )
    triggers = [
        str(s.run(f"SHOW CREATE TRIGGER {q(schema)}.{q(name)}")[0][2])
        for name in s.names(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s "
            "ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
            schema,
        )
    ]
    views = [
        str(s.run(f"SHOW CREATE VIEW {q(schema)}.{q(name)}")[0][1])
        for name in s.names(
            "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA=%s ORDER BY TABLE_NAME",
            schema,
        )
    ]
    routines = []
    for name, kind in s.run(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=%s "
        "ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        (schema,),
    ):
        routines.append(str(s.run(f"SHOW CREATE {kind} {q(schema)}.{q(str(name))}")[0][2]))
    return {"tables": tables, "triggers": triggers, "views": views, "routines": routines}


def _create_views(s: Session, views: list[str]) -> None:
    """Create views in dependency order (a view over a view waits for the other)."""
    pending = list(views)
    while pending:
        failed, last_error = [], None
        for sql in pending:
            try:
                s.run(sql)
            except pymysql.MySQLError as exc:
                failed.append(sql)
                last_error = exc
        if len(failed) == len(pending):
            raise CloneError(f"views could not be created: {last_error}")
        pending = failed


def _refuse(source: str, target: str, rule: SourceRule | None, remote: bool) -> None:
    """Raise CloneError for a copy that must not be made, before anything is read."""
    check_schema(source)
    check_schema(target)
    refused = rule.problem(source) if rule is not None else None
    if refused is None and source.lower() in SYSTEM_SCHEMAS:
        refused = f"{source} is one of the server's own schemas"
    if refused is not None:
        raise CloneError(f"refused to copy {source!r}: {refused}")
    if len(target) > MAX_TARGET_LEN:
        raise CloneError(f"target schema name {target!r} is longer than {MAX_TARGET_LEN} characters")
    if source == target and not remote:
        raise CloneError("source and target schema are the same")


@dataclass(frozen=True)
class _Source:
    charset: str
    collation: str
    objects: dict[str, list[str]]


def _read_source(server: Server, source: str) -> _Source:
    with session(server) as ss:
        if not schema_exists(ss, source):
            raise CloneError(f"unknown source schema {source!r}")
        charset, collation = ss.run(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME=%s",
            (source,),
        )[0]
        return _Source(str(charset), str(collation), _objects(ss, source))


def _create(s: Session, schema: str, src: _Source) -> None:
    s.run(f"CREATE DATABASE {q(schema)} CHARACTER SET {src.charset} COLLATE {src.collation}")


def clone_schema(
    server: Server,
    source: str,
    target: str,
    *,
    source_server: Server | None = None,
    on_step: Callable[[str], None] | None = None,
    workers: int = 4,
    user: EnvUser | None = None,
    rule: SourceRule | None = None,
) -> CloneResult:
    """Replace ``target`` on ``server`` with a verified copy of ``source``.

    ``source_server`` (default: the same server) holds the source. On the same server the
    copy is server-side; across servers it is a streamed dump and load of the base tables.
    Triggers, views and routines are re-created from the source's definitions either way, with
    ``user`` (the environment's own account, ensured here) as their definer.

    ``rule`` is the operator's allow-list of sources: a source it does not allow is refused
    before anything is read, whatever the caller was told (the server's own schemas always are).
    """
    remote = source_server is not None and source_server != server
    _refuse(source, target, rule, remote)
    step = on_step or (lambda _name: None)
    tmp, old = target + NEW_SUFFIX, target + OLD_SUFFIX
    started = time.monotonic()
    src = _read_source(source_server or server, source)
    tables = src.objects["tables"]
    with session(server) as s:
        s.run("SET SESSION foreign_key_checks=0, unique_checks=0")
        s.run("SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'")
        step("prepare")
        if user is not None:
            # New credentials before anything of the new copy exists: the schema's previous
            # owner can neither log in again nor keep a session open into the new data.
            ensure_user(s, target, user)
            end_sessions(s, user)
        s.run(f"DROP DATABASE IF EXISTS {q(tmp)}")
        _create(s, tmp, src)
        s.run(f"USE {q(tmp)}")
        step("copy")
        if source_server is not None and remote:
            rows = copy_remote(source_server, server, s, source, tmp, tables)
        else:
            rows = copy_here(s, server, source, tmp, tables, workers)
        step("swap")
        # The target is replaced whole: whatever its last owner left there (events, routines,
        # triggers, views, sequences, tables the source lacks) goes with the schema, and the
        # verified copy moves in. Until here the target was not touched.
        s.run(f"DROP DATABASE IF EXISTS {q(target)}")
        _create(s, target, src)
        if tables:
            s.run("RENAME TABLE " + ", ".join(f"{q(tmp)}.{q(t)} TO {q(target)}.{q(t)}" for t in tables))
        step("objects")
        _recreate_objects(s, src, source, target, user.definer if user is not None else None)
        step("cleanup")
        s.run(f"DROP DATABASE IF EXISTS {q(old)}")
        s.run(f"DROP DATABASE IF EXISTS {q(tmp)}")
    counts = {kind: len(src.objects[kind]) for kind in ("views", "triggers", "routines")}
    return CloneResult(source, target, len(tables), rows, seconds=time.monotonic() - started, **counts)


def _recreate_objects(s: Session, src: _Source, source: str, target: str, definer: str | None) -> None:
    """Routines, triggers and views of the source, re-pointed at the target, with ``definer``."""
    s.run(f"USE {q(target)}")
    for sql in src.objects["routines"]:
        s.run(repoint(sql, source, target, definer))
    for sql in src.objects["triggers"]:
        s.run(repoint(sql, source, target, definer))
    _create_views(s, [repoint(sql, source, target, definer) for sql in src.objects["views"]])


def drop_schema(server: Server, schema: str, user: EnvUser | None = None) -> bool:
    """Drop ``schema``, any clone leftovers beside it and its ``user``; True if anything was dropped."""
    check_schema(schema)
    with session(server) as s:
        names = [schema, schema + NEW_SUFFIX, schema + OLD_SUFFIX]
        present = [n for n in names if schema_exists(s, n)]
        for name in present:
            s.run(f"DROP DATABASE {q(name)}")
        dropped_user = False
        if user is not None and user_exists(s, user):
            s.run("DROP USER %s@%s", (user.name, user.host))
            dropped_user = True
        if user is not None:
            end_sessions(s, user)  # DROP USER leaves the user's open sessions running
        return bool(present) or dropped_user
