"""Database changes on the PR, end to end: the real pass clones the source, the PR's migration
runs, and the pass compares the environment's schema with its source (information_schema, the
admin connection). A PR whose migration adds a table, a column and an index says exactly those on
its comment and its dashboard page; a PR without migrations says "no database changes"; hostile
names are escaped."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import LOCAL_FIRST_HOST, _db_names, database_section, run_pass, status_of

MIGRATION = (
    "CREATE TABLE invoices (id INT PRIMARY KEY, total DECIMAL(10,2))\n"
    "ALTER TABLE notes ADD COLUMN plan VARCHAR(20) NOT NULL DEFAULT 'free'\n"
    "CREATE INDEX idx_plan ON notes (plan)\n"
    "CREATE TABLE `<img src=x onerror=alert(1)>` (id INT)\n"
)


@pytest.fixture
def db_world(tmp_path: Path, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    n = next(_db_names)
    source = f"dev_diff_{n}"
    out = mariadb.sql(
        f"DROP DATABASE IF EXISTS {source}; CREATE DATABASE {source}; "
        f"CREATE TABLE {source}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100)); "
        f"CREATE TABLE {source}.schema_migrations (version INT PRIMARY KEY)"
    )
    assert out.returncode == 0, out.stderr
    monkeypatch.setenv("PULLREKUN_DB_ADMIN_PASSWORD", "")
    monkeypatch.setenv("PULLREKUN_DB_APP_PASSWORD", "diff test secret")
    root = tmp_path / "world"
    sb = Sandbox(
        root=root,
        hosts=2,
        first_host=LOCAL_FIRST_HOST,
        extra_config={
            "database": database_section(
                mariadb,
                default_source=source,
                schema_template=f"diff_{n}_{{instance}}",
                migrate_command=f"{sys.executable} migrate.py",
            )
        },
    ).start()
    try:
        yield sb
    finally:
        sb.stop()


def test_the_pr_says_what_its_migration_changed_and_a_pr_without_says_none(db_world: Sandbox) -> None:
    sb = db_world
    changed, _ = sb.open_pr("mig", "with a migration", files={"MIGRATION.sql": MIGRATION})
    plain, _ = sb.open_pr("plain", "no migration")
    assert run_pass(sb).ok
    envs = {e["pr"]: e for e in status_of(sb)["environments"]}
    assert envs[changed]["schema_changes"] == [
        "+ table `<img src=x onerror=alert(1)>`",
        "+ table `invoices`",
        "+ column `notes.plan` varchar(20) NOT NULL DEFAULT 'free'",
        "+ index `notes.idx_plan` (plan)",
    ]
    assert envs[plain]["schema_changes"] == []
    (with_changes,) = sb.github.comments_on(changed)
    body = with_changes["body"]
    assert "**Database changes** (against" in body
    assert "invoices" in body
    assert "<img" not in body, "a hostile name is escaped on the PR"
    (without,) = sb.github.comments_on(plain)
    assert "no database changes" in without["body"]
