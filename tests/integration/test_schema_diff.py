"""What a PR changed in its database, read from a real MariaDB's information_schema: a migration
that adds a table, a column and an index shows exactly those; none shows none; hostile names are
carried as names (escaped where shown)."""

from __future__ import annotations

from pullrekun_sandbox.mariadb import MariaDB

from pullrekun.adapters.mysql import Server
from pullrekun.adapters.schema_diff import schema_changes
from tests.conftest import _db_names


def test_a_migration_shows_exactly_what_it_changed(mariadb: MariaDB) -> None:
    n = next(_db_names)
    source, target = f"diff_src_{n}", f"diff_env_{n}"
    base = (
        "CREATE TABLE {s}.users (id INT PRIMARY KEY, name VARCHAR(50)); "
        "CREATE TABLE {s}.orders (id INT PRIMARY KEY, user_id INT, "
        "CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES {s}.users (id)); "
        "CREATE VIEW {s}.names AS SELECT name FROM {s}.users; "
    )
    out = mariadb.sql(
        f"DROP DATABASE IF EXISTS {source}; DROP DATABASE IF EXISTS {target}; "
        f"CREATE DATABASE {source}; CREATE DATABASE {target}; "
        + base.format(s=source)
        + base.format(s=target)
    )
    assert out.returncode == 0, out.stderr
    server = Server(unix_socket=str(mariadb.socket), user="root")
    assert schema_changes(server, source, target) == (), "no migration: no change"
    out = mariadb.sql(
        f"CREATE TABLE {target}.invoices (id INT PRIMARY KEY, total DECIMAL(10,2)); "
        f"ALTER TABLE {target}.users ADD COLUMN plan VARCHAR(20) NOT NULL DEFAULT 'free'; "
        f"CREATE INDEX idx_plan ON {target}.users (plan); "
        f"CREATE TABLE {target}.`<b>x</b>``y` (id INT);"
    )
    assert out.returncode == 0, out.stderr
    assert schema_changes(server, source, target) == (
        "+ table `<b>x</b>`y`",
        "+ table `invoices`",
        "+ column `users.plan` varchar(20) NOT NULL DEFAULT 'free'",
        "+ index `users.idx_plan` (plan)",
    )
