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

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pymysql

from pullrekun.core.dbsources import SYSTEM_SCHEMAS, SourceRule
from pullrekun.core.dbusers import grant_pattern
from pullrekun.core.validate import check_schema

NEW_SUFFIX = "__prk_new"
OLD_SUFFIX = "__prk_old"
MAX_TARGET_LEN = 64 - max(len(NEW_SUFFIX), len(OLD_SUFFIX))
_DEFINER = re.compile(r"DEFINER\s*=\s*(`[^`]*`|'[^']*'|\S+)@(`[^`]*`|'[^']*'|\S+)\s*", re.IGNORECASE)
#: ER_NO_SUCH_THREAD: the session to kill is gone already.
_UNKNOWN_THREAD = 1094
_CREATE = re.compile(r"\A\s*CREATE\s+", re.IGNORECASE)


class CloneError(RuntimeError):
    """The clone could not be made; the target schema is as it was (unless said otherwise)."""


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    unix_socket: str | None = None

    def connect(self) -> Any:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            unix_socket=self.unix_socket,
            autocommit=True,
            charset="utf8mb4",
        )


@dataclass(frozen=True)
class EnvUser:
    """An environment's own database account (see :mod:`pullrekun.core.dbusers`)."""

    name: str
    host: str
    password: str = field(repr=False)

    @property
    def definer(self) -> str:
        return f"{q(self.name)}@{q(self.host)}"


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


def q(name: str) -> str:
    """Backquote a validated identifier."""
    return "`" + name.replace("`", "``") + "`"


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


class _Session:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def run(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def names(self, sql: str, *args: Any) -> list[str]:
        return [str(r[0]) for r in self.run(sql, args)]


@contextmanager
def session(server: Server) -> Iterator[_Session]:
    """One autocommit connection, closed on exit."""
    conn = server.connect()
    try:
        yield _Session(conn)
    finally:
        conn.close()


def _objects(s: _Session, schema: str) -> dict[str, list[str]]:
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


def _create_views(s: _Session, views: list[str]) -> None:
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


def _copy_table(server: Server, source: str, tmp: str, table: str) -> int:
    """Copy one table's rows and AUTO_INCREMENT counter; check it with CHECKSUM TABLE."""
    with session(server) as s:
        s.run("SET SESSION foreign_key_checks=0, unique_checks=0")
        s.run("SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'")
        cols = ", ".join(
            q(c)
            for c in s.names(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s AND IS_GENERATED='NEVER' "
                "ORDER BY ORDINAL_POSITION",
                source,
                table,
            )
        )
        with s.conn.cursor() as cur:
            rows = int(
                cur.execute(
                    f"INSERT INTO {q(tmp)}.{q(table)} ({cols}) SELECT {cols} FROM {q(source)}.{q(table)}"
                )
            )
        (counter,) = s.run(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
            (source, table),
        )[0]
        if counter is not None:
            s.run(f"ALTER TABLE {q(tmp)}.{q(table)} AUTO_INCREMENT={int(counter)}")
        got = s.run(f"CHECKSUM TABLE {q(source)}.{q(table)}, {q(tmp)}.{q(table)}")
        if got[0][1] != got[1][1]:
            raise CloneError(f"copy of table {table!r} differs from the source (CHECKSUM TABLE)")
        return rows


def schema_exists(s: _Session, schema: str) -> bool:
    return bool(s.run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (schema,)))


def option_value(value: str) -> str:
    """A value for a MySQL option file: quoted, with its backslashes, quotes and breaks escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def _option_pipe(server: Server) -> int:
    """A [client] option file in a pipe (its read end): the password is on no command line and
    in no file; the tool reads it as ``--defaults-extra-file=/dev/fd/<fd>``."""
    lines = ["[client]", f"user={option_value(server.user)}", f"password={option_value(server.password)}"]
    lines += (
        [f"socket={option_value(server.unix_socket)}"]
        if server.unix_socket
        else [f"host={option_value(server.host)}", f"port={int(server.port)}"]
    )
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, ("\n".join(lines) + "\n").encode())
    finally:
        os.close(write_end)
    return read_end


def _dump_load(source_server: Server, server: Server, source: str, tmp: str, tables: list[str]) -> None:
    """Stream `mariadb-dump` of the base tables into ``tmp`` on the other server (no temp file)."""
    if not tables:
        return
    dump_bin = shutil.which("mariadb-dump") or "mysqldump"
    load_bin = shutil.which("mariadb") or "mysql"
    src_cnf, dst_cnf = _option_pipe(source_server), _option_pipe(server)
    try:
        dump = subprocess.Popen(
            [
                dump_bin,
                f"--defaults-extra-file=/dev/fd/{src_cnf}",
                "--single-transaction",
                "--skip-triggers",
                "--no-create-db",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--",  # names from the source schema are never taken for options
                source,
                *tables,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(src_cnf,),
        )
        load = subprocess.run(
            [
                load_bin,
                f"--defaults-extra-file=/dev/fd/{dst_cnf}",
                "--default-character-set=utf8mb4",
                "--",
                tmp,
            ],
            stdin=dump.stdout,
            capture_output=True,
            check=False,
            pass_fds=(dst_cnf,),
        )
        assert dump.stdout is not None
        assert dump.stderr is not None
        dump.stdout.close()
        dump_err = dump.stderr.read().decode(errors="replace")
        if dump.wait() != 0:
            raise CloneError(f"dump of {source!r} failed: {dump_err.strip()[-500:]}")
        if load.returncode != 0:
            raise CloneError(
                f"load into {tmp!r} failed: {load.stderr.decode(errors='replace').strip()[-500:]}"
            )
    finally:
        os.close(src_cnf)
        os.close(dst_cnf)


def _checksums(server: Server, schema: str, tables: list[str]) -> dict[str, Any]:
    with session(server) as s:
        return {t: s.run(f"CHECKSUM TABLE {q(schema)}.{q(t)}")[0][1] for t in tables}


def _copy_here(s: _Session, server: Server, source: str, tmp: str, tables: list[str], workers: int) -> int:
    """Same server: tables from SHOW CREATE TABLE, rows copied and verified in parallel."""
    for table in tables:
        s.run(str(s.run(f"SHOW CREATE TABLE {q(source)}.{q(table)}")[0][1]))
    sizes = dict(
        s.run(
            "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'",
            (source,),
        )
    )
    ordered = sorted(tables, key=lambda t: -int(sizes.get(t) or 0))  # biggest first
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ordered) or 1))) as pool:
        return sum(pool.map(lambda t: _copy_table(server, source, tmp, t), ordered))


def _copy_remote(
    source_server: Server, server: Server, s: _Session, source: str, tmp: str, tables: list[str]
) -> int:
    """Another server: streamed dump and load, verified with CHECKSUM TABLE on both ends."""
    _dump_load(source_server, server, source, tmp, tables)
    if _checksums(source_server, source, tables) != _checksums(server, tmp, tables):
        raise CloneError("the loaded copy differs from the source (CHECKSUM TABLE)")
    return sum(int(s.run(f"SELECT COUNT(*) FROM {q(tmp)}.{q(t)}")[0][0]) for t in tables)


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
    check_schema(source)
    check_schema(target)
    refused = rule.problem(source) if rule is not None else None
    if refused is None and source.lower() in SYSTEM_SCHEMAS:
        refused = f"{source} is one of the server's own schemas"
    if refused is not None:
        raise CloneError(f"refused to copy {source!r}: {refused}")
    if len(target) > MAX_TARGET_LEN:
        raise CloneError(f"target schema name {target!r} is longer than {MAX_TARGET_LEN} characters")
    remote = source_server is not None and source_server != server
    if source == target and not remote:
        raise CloneError("source and target schema are the same")
    step = on_step or (lambda _name: None)
    tmp, old = target + NEW_SUFFIX, target + OLD_SUFFIX
    started = time.monotonic()
    with session(source_server or server) as ss:
        if not schema_exists(ss, source):
            raise CloneError(f"unknown source schema {source!r}")
        charset, collation = ss.run(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME=%s",
            (source,),
        )[0]
        src = _objects(ss, source)
    with session(server) as s:
        s.run("SET SESSION foreign_key_checks=0, unique_checks=0")
        s.run("SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'")

        step("prepare")
        if user is not None:
            # New credentials before anything of the new copy exists: the schema's previous
            # owner can neither log in again nor keep a session open into the new data.
            _ensure_env_user(s, target, user)
            end_sessions(s, user)
        s.run(f"DROP DATABASE IF EXISTS {q(tmp)}")
        s.run(f"CREATE DATABASE {q(tmp)} CHARACTER SET {charset} COLLATE {collation}")
        s.run(f"USE {q(tmp)}")
        step("copy")
        if source_server is not None and remote:
            rows = _copy_remote(source_server, server, s, source, tmp, src["tables"])
        else:
            rows = _copy_here(s, server, source, tmp, src["tables"], workers)

        step("swap")
        # The target is replaced whole: whatever its last owner left there (events, routines,
        # triggers, views, sequences, tables the source lacks) goes with the schema, and the
        # verified copy moves in. Until here the target was not touched.
        s.run(f"DROP DATABASE IF EXISTS {q(target)}")
        s.run(f"CREATE DATABASE {q(target)} CHARACTER SET {charset} COLLATE {collation}")
        if src["tables"]:
            s.run(
                "RENAME TABLE " + ", ".join(f"{q(tmp)}.{q(t)} TO {q(target)}.{q(t)}" for t in src["tables"])
            )

        step("objects")
        definer = user.definer if user is not None else None
        s.run(f"USE {q(target)}")
        for sql in src["routines"]:
            s.run(repoint(sql, source, target, definer))
        for sql in src["triggers"]:
            s.run(repoint(sql, source, target, definer))
        _create_views(s, [repoint(sql, source, target, definer) for sql in src["views"]])

        step("cleanup")
        s.run(f"DROP DATABASE IF EXISTS {q(old)}")
        s.run(f"DROP DATABASE IF EXISTS {q(tmp)}")
    return CloneResult(
        source=source,
        target=target,
        tables=len(src["tables"]),
        rows=rows,
        views=len(src["views"]),
        triggers=len(src["triggers"]),
        routines=len(src["routines"]),
        seconds=time.monotonic() - started,
    )


def drop_schema(server: Server, schema: str, user: EnvUser | None = None) -> bool:
    """Drop ``schema``, any clone leftovers beside it and its ``user``; True if anything was dropped."""
    check_schema(schema)
    with session(server) as s:
        names = [schema, schema + NEW_SUFFIX, schema + OLD_SUFFIX]
        present = [n for n in names if schema_exists(s, n)]
        for name in present:
            s.run(f"DROP DATABASE {q(name)}")
        dropped_user = False
        if user is not None and _user_exists(s, user):
            s.run("DROP USER %s@%s", (user.name, user.host))
            dropped_user = True
        if user is not None:
            end_sessions(s, user)  # DROP USER leaves the user's open sessions running
        return bool(present) or dropped_user


def _user_exists(s: _Session, user: EnvUser) -> bool:
    return bool(s.run("SELECT 1 FROM mysql.user WHERE User=%s AND Host=%s", (user.name, user.host)))


def end_sessions(s: _Session, user: EnvUser) -> int:
    """End every session of ``user`` (``KILL CONNECTION``; a changed password or a dropped user
    leaves open sessions running). Returns how many were ended."""
    ended = 0
    for (pid,) in s.run("SELECT ID FROM information_schema.PROCESSLIST WHERE USER=%s", (user.name,)):
        try:
            s.run(f"KILL CONNECTION {int(pid)}")
            ended += 1
        except pymysql.MySQLError as exc:
            if exc.args and exc.args[0] == _UNKNOWN_THREAD:  # it ended on its own meanwhile
                continue
            raise
    return ended


def _grants(s: _Session, user: EnvUser) -> tuple[set[str], set[str]]:
    """(global privileges other than USAGE, database patterns with any grant) of ``user``."""
    grantee = f"'{user.name}'@'{user.host}'"
    globals_ = {
        str(r[0])
        for r in s.run(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE=%s", (grantee,)
        )
    } - {"USAGE"}
    patterns = {
        str(r[0])
        for r in s.run(
            "SELECT DISTINCT TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE=%s",
            (grantee,),
        )
    }
    return globals_, patterns


def _ensure_env_user(s: _Session, schema: str, user: EnvUser) -> bool:
    """``user`` exists with its password and every right on ``schema``, and none elsewhere
    (rights granted by hand are revoked). Returns whether anything had to change."""
    changed = not _user_exists(s, user)
    if changed:
        s.run("CREATE USER %s@%s IDENTIFIED BY %s", (user.name, user.host, user.password))
    else:
        # The password follows the secret and the assignment it is derived from (a clone ends the
        # sessions opened with an earlier one: see clone_schema).
        s.run("ALTER USER %s@%s IDENTIFIED BY %s", (user.name, user.host, user.password))
    pattern = grant_pattern(schema)
    globals_, patterns = _grants(s, user)
    if globals_:
        s.run("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", (user.name, user.host))
        patterns, changed = set(), True
    for other in sorted(patterns - {pattern}):
        s.run(f"REVOKE ALL PRIVILEGES ON {q(other)}.* FROM %s@%s", (user.name, user.host))
        changed = True
    if pattern not in patterns:
        s.run(f"GRANT ALL PRIVILEGES ON {q(pattern)}.* TO %s@%s", (user.name, user.host))
        changed = True
    return changed


def ensure_env_user(server: Server, schema: str, user: EnvUser) -> bool:
    """Make ``user`` the account of ``schema`` (see :func:`_ensure_env_user`); True if it changed."""
    check_schema(schema)
    with session(server) as s:
        return _ensure_env_user(s, schema, user)
