"""Connections to the MySQL/MariaDB server the environments' schemas live on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql


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


def q(name: str) -> str:
    """Backquote a validated identifier."""
    return "`" + name.replace("`", "``") + "`"


class Session:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def run(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def names(self, sql: str, *args: Any) -> list[str]:
        return [str(r[0]) for r in self.run(sql, args)]


@contextmanager
def session(server: Server) -> Iterator[Session]:
    """One autocommit connection, closed on exit."""
    conn = server.connect()
    try:
        yield Session(conn)
    finally:
        conn.close()


def schema_exists(s: Session, schema: str) -> bool:
    return bool(s.run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (schema,)))


def option_value(value: str) -> str:
    """A value for a MySQL option file: quoted, with its backslashes, quotes and breaks escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def option_pipe(server: Server) -> int:
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
