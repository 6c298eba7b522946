"""Each environment's own database account: every right on its schema, none elsewhere, a
password of its own per owner (:mod:`pullrekun.core.dbusers`), its sessions ended when the
schema changes hands."""

from __future__ import annotations

from dataclasses import dataclass, field

import pymysql

from pullrekun.adapters.mysql import Server, Session, q, session
from pullrekun.core.dbusers import grant_pattern
from pullrekun.core.validate import check_schema

#: ER_NO_SUCH_THREAD: the session to kill is gone already.
_UNKNOWN_THREAD = 1094


@dataclass(frozen=True)
class EnvUser:
    """An environment's own database account (see :mod:`pullrekun.core.dbusers`)."""

    name: str
    host: str
    password: str = field(repr=False)

    @property
    def definer(self) -> str:
        return f"{q(self.name)}@{q(self.host)}"


def user_exists(s: Session, user: EnvUser) -> bool:
    return bool(s.run("SELECT 1 FROM mysql.user WHERE User=%s AND Host=%s", (user.name, user.host)))


def end_sessions(s: Session, user: EnvUser) -> int:
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


def _grants(s: Session, user: EnvUser) -> tuple[set[str], set[str]]:
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


def ensure_user(s: Session, schema: str, user: EnvUser) -> bool:
    """``user`` exists with its password and every right on ``schema``, and none elsewhere
    (rights granted by hand are revoked). Returns whether anything had to change."""
    changed = not user_exists(s, user)
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
    """Make ``user`` the account of ``schema`` (see :func:`ensure_user`); True if it changed."""
    check_schema(schema)
    with session(server) as s:
        return ensure_user(s, schema, user)
