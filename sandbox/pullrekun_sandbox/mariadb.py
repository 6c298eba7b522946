"""A real MariaDB server for the tests, in a temp datadir, on a loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_DB = "mariadb-install-db"
SERVER = "/usr/sbin/mariadbd"


def available() -> str | None:
    if not Path(SERVER).exists() or shutil.which(INSTALL_DB) is None:
        return "mariadb-server is not installed (apt-get install mariadb-server)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MariaDB:
    root: Path
    port: int = field(default_factory=_free_port)
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    def start(self) -> MariaDB:
        data = self.root / "data"
        self.root.mkdir(parents=True, exist_ok=True)
        if not data.exists():
            self._install(data)
        # Its own directory for temporary tables: servers sharing /tmp have had one's temporary
        # table file vanish under it (a test failed with "Error on delete of /tmp/#sql-temptable").
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        log = self._log()
        self.proc = subprocess.Popen(
            [
                SERVER,
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                f"--pid-file={self.root / 'mariadb.pid'}",
                "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-log-bin",
                f"--tmpdir={tmp}",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        os.close(log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.root / 'mariadb.log').read_text()[-2000:]}")
            if self.sql("SELECT 1").returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("mariadbd did not answer")
        return self

    def _install(self, data: Path) -> None:
        """The system tables in ``data``. Tried twice (a clean directory each time): once in a run
        of .ci/run, three workers installing at once, one install failed without a trace; what
        it printed is now in the error, and in stderr when the second try succeeds."""
        command = [
            INSTALL_DB,
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        for attempt in (1, 2):
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            if out.returncode == 0:
                return
            said = f"mariadb-install-db exited {out.returncode}: {(out.stdout + out.stderr)[-3000:]}"
            if attempt == 2:
                raise RuntimeError(said)
            sys.stderr.write(f"pullrekun_sandbox: trying again: {said}\n")
            shutil.rmtree(data, ignore_errors=True)

    def _log(self) -> int:
        return os.open(self.root / "mariadb.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def sql(self, statement: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B", "-e", statement],
            text=True,
            capture_output=True,
            check=False,
        )

    @staticmethod
    def user_statements(user: str, password: str, on: str, grant_option: bool = False) -> list[str]:
        """SQL for ``user`` (from 127.0.0.1 and localhost) with every right on ``on`` (e.g. ``db.*``)."""
        secret = password.replace("\\", "\\\\").replace("'", "\\'")
        statements = []
        for host in ("127.0.0.1", "localhost"):
            statements += [
                f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{secret}'",
                f"GRANT ALL ON {on} TO '{user}'@'{host}'" + (" WITH GRANT OPTION" if grant_option else ""),
            ]
        return statements

    def create_database(self, name: str, user: str = "pullrekun", password: str = "pw") -> str:
        """A fresh database and a user for it; returns a SQLAlchemy URL."""
        statements = [f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`"]
        statements += self.user_statements(user, password, f"`{name}`.*")
        out = self.sql("; ".join(statements))
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return f"mysql+pymysql://{user}:{password}@127.0.0.1:{self.port}/{name}?charset=utf8mb4"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
