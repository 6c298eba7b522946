"""Read two schemas' structure from ``information_schema`` with the admin connection (one query
per object kind for both; no data is read) for :func:`pullrekun.core.schemadiff.changes`."""

from __future__ import annotations

from collections.abc import Callable

from pullrekun.adapters.mysql import Server, Session, session
from pullrekun.core.schemadiff import Structure, changes, column_text

Row = tuple[object, ...]


def _column(r: Row) -> str:
    return column_text(str(r[3]), r[4] == "YES", None if r[5] is None else str(r[5]))


#: kind -> (query over TABLE_SCHEMA IN (%s, %s), first column the schema; (name, description) of a row)
_QUERIES: dict[str, tuple[str, Callable[[Row], tuple[str, str]]]] = {
    "tables": (
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA IN (%s, %s) AND TABLE_TYPE = 'BASE TABLE'",
        lambda r: (str(r[1]), ""),
    ),
    "columns": (
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_DEFAULT "
        "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
        "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
        "WHERE c.TABLE_SCHEMA IN (%s, %s) AND t.TABLE_TYPE = 'BASE TABLE'",
        lambda r: (
            f"{r[1]}.{r[2]}",
            column_text(str(r[3]), r[4] == "YES", None if r[5] is None else str(r[5])),
        ),
    ),
    "indexes": (
        "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, MIN(NON_UNIQUE), "
        "GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ') FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA IN (%s, %s) GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME",
        lambda r: (f"{r[1]}.{r[2]}", ("" if int(str(r[3])) else "UNIQUE ") + f"({r[4]})"),
    ),
    "foreign_keys": (
        "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, "
        "GROUP_CONCAT(CONCAT(COLUMN_NAME, ' -> ', REFERENCED_TABLE_NAME, '.', REFERENCED_COLUMN_NAME) "
        "ORDER BY ORDINAL_POSITION SEPARATOR ', ') FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA IN (%s, %s) AND REFERENCED_TABLE_NAME IS NOT NULL "
        "GROUP BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME",
        lambda r: (f"{r[1]}.{r[2]}", f"({r[3]})"),
    ),
    "views": (
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN (%s, %s)",
        lambda r: (str(r[1]), ""),
    ),
    "triggers": (
        "SELECT TRIGGER_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION "
        "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN (%s, %s)",
        lambda r: (f"{r[1]}.{r[2]}", f"{r[3]} {r[4]}".lower()),
    ),
    "routines": (
        "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA IN (%s, %s)",
        lambda r: (str(r[1]), str(r[2]).lower()),
    ),
}


def structures(s: Session, source: str, target: str) -> tuple[Structure, Structure]:
    """Both schemas' structure, one query per object kind."""
    found: dict[str, dict[str, dict[str, str]]] = {source: {}, target: {}}
    for kind, (sql, describe) in _QUERIES.items():
        for row in s.run(sql, (source, target)):
            name, text = describe(row)
            found[str(row[0])].setdefault(kind, {})[name] = text
    return Structure(found[source]), Structure(found[target])


def schema_changes(server: Server, source: str, target: str) -> tuple[str, ...]:
    """What ``target`` (an environment's schema, migrated) changed against ``source``."""
    with session(server) as s:
        before, after = structures(s, source, target)
    return changes(before, after)
