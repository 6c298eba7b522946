"""End to end with per-environment databases: real MariaDB, sshd hosts, moto, GitHub simulator."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sandbox import Sandbox
from pullrekun_sandbox.sshd import SshdHosts

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from tests.conftest import _db_names, database_section, run_cli, run_pass, ssh_world, status_of

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")

APP_PASSWORD = "app pw; with 'quotes'"


@pytest.fixture
def db_sandbox(
    tmp_path: Path, sshd_hosts: SshdHosts, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    n = next(_db_names)
    url = mariadb.create_database(f"pullrekun_{n}")
    alice, bob = f"dev_alice_{n}", f"dev_bob_{n}"
    statements = []
    for schema, rows in ((alice, 2), (bob, 5)):
        statements += [
            f"DROP DATABASE IF EXISTS {schema}",
            f"CREATE DATABASE {schema}",
            f"CREATE TABLE {schema}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100))",
            *(f"INSERT INTO {schema}.notes (body) VALUES ('row {i}')" for i in range(rows)),
        ]
    statements += mariadb.user_statements("app", APP_PASSWORD, "`stage\\_%`.*")
    out = mariadb.sql("; ".join(statements))
    assert out.returncode == 0, out.stderr
    monkeypatch.setenv("PULLREKUN_DB_ADMIN_PASSWORD", "")
    monkeypatch.setenv("PULLREKUN_DB_APP_PASSWORD", APP_PASSWORD)
    sb = ssh_world(
        sshd_hosts,
        tmp_path / "world",
        hosts=2,
        state_url=url,
        extra_config={
            "database": database_section(
                mariadb,
                app_user="app",
                default_source=alice,
                authors={"bob": bob},
                allowed_sources=[alice, bob, f"dev_ghost_{n}"],
                schema_template=f"stage_{n}_{{instance}}",
                migrate_command=f"{sys.executable} migrate.py",
            )
        },
    ).start()
    yield sb
    sb.stop()


def page(sb: Sandbox, addr: str, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{addr}:{sb.app_port}{path}", timeout=5) as resp:
        return str(resp.read().decode())


def notes(sb: Sandbox, addr: str, write: bool = False) -> int:
    for line in page(sb, addr, "/write" if write else "/").splitlines():
        if line.startswith("db: "):
            return int(line.rsplit("notes=", 1)[1])
    raise AssertionError("the app shows no database line")


def envs(sb: Sandbox) -> dict[int, dict[str, Any]]:
    return {s["pr"]: s for s in status_of(sb)["environments"] if s["pr"]}


def reconcile_ok(sb: Sandbox) -> None:
    result = run_pass(sb)
    assert result.ok, (result.problem, result.outcomes)


def test_each_environment_gets_its_own_clone_kept_across_pushes_and_reset_on_request(
    db_sandbox: Sandbox, mariadb: MariaDB
) -> None:
    sb = db_sandbox
    one, _ = sb.open_pr("a1", "alice's change", author="alice")
    two, _ = sb.open_pr("a2", "another of alice's", author="alice")
    reconcile_ok(sb)
    addr = {pr: sb.addr_of(s["instance_id"]) for pr, s in envs(sb).items()}
    assert notes(sb, addr[one]) == notes(sb, addr[two]) == 2, "both start from alice's schema"
    shown = envs(sb)[one]
    assert shown["db_source"].startswith("dev_alice_")
    assert shown["db_schema"].startswith("stage_")
    assert "cloned from dev_alice_" in run_cli(sb, "status").stdout

    # Writes stay in their environment.
    assert notes(sb, addr[one], write=True) == 3
    assert notes(sb, addr[two]) == 2

    # The migrate command ran in the new release, against the environment's schema.
    schema = page(sb, addr[one]).split("db: ", 1)[1].split()[0]
    migrated = mariadb.sql(f"SELECT version FROM `{schema}`.schema_migrations")
    assert migrated.stdout.strip() == "1"

    # A push redeploys but keeps the data testers entered.
    head = sb.commit("a1", "pushed")
    sb.github.push(one, head)
    reconcile_ok(sb)
    assert sb.served(addr[one]) == head
    assert notes(sb, addr[one]) == 3

    # The db:reset label re-clones once; removing it and adding it again re-clones again.
    sb.github.set_labels(one, ["db:reset"])
    reconcile_ok(sb)
    assert notes(sb, addr[one]) == 2
    notes(sb, addr[one], write=True)
    reconcile_ok(sb)
    assert notes(sb, addr[one]) == 3, "the label is honoured once, not on every pass"

    # `pullrekun reset-db` does the same from the command line.
    out = run_cli(sb, "reset-db", str(one))
    assert out.returncode == 0, out.stderr
    reconcile_ok(sb)
    assert notes(sb, addr[one]) == 2
    assert run_cli(sb, "reset-db", "999").returncode == 2


def test_author_map_and_labels_choose_the_source_and_hostile_labels_are_refused(db_sandbox: Sandbox) -> None:
    sb = db_sandbox
    bobs, _ = sb.open_pr("b1", "bob's change", author="bob")
    hostile, _ = sb.open_pr("h1", "hostile", author="mallory", labels=["db:x`; DROP DATABASE mysql; --"])
    plan = json.loads(run_cli(sb, "plan", "--json").stdout)
    assert any("names no allowed schema" in note for note in plan["notes"])
    reconcile_ok(sb)
    addr = {pr: sb.addr_of(s["instance_id"]) for pr, s in envs(sb).items()}
    assert notes(sb, addr[bobs]) == 5, "bob's schema, from the author map"
    assert notes(sb, addr[hostile]) == 2, "the default source; the label was refused"

    # The dashboard's schema table overrides the config's: bob's next copy comes from alice's.
    db = config_mod.load(sb.config_path).database
    assert db is not None
    alices = db.default_source
    store = Store.open(sb.state_db_url)
    try:
        store.requests.set_schema_source("Bob", alices, dt.datetime.now(dt.UTC), "local:ada")
        assert run_cli(sb, "reset-db", str(bobs)).returncode == 0
        reconcile_ok(sb)
        assert notes(sb, addr[bobs]) == 2, "cloned from the edited table's schema"
        assert envs(sb)[bobs]["db_source"] == alices
        store.requests.set_schema_source("bob", None, dt.datetime.now(dt.UTC), "local:ada")
        assert run_cli(sb, "reset-db", str(bobs)).returncode == 0
        reconcile_ok(sb)
        assert notes(sb, addr[bobs]) == 5, "back to the config's schema"
    finally:
        store.close()


def test_the_app_env_file_is_private(db_sandbox: Sandbox) -> None:
    sb = db_sandbox
    sb.open_pr("p1", "private", author="alice")
    reconcile_ok(sb)
    (env,) = envs(sb).values()
    env_file = sb.deploy_root(sb.addr_of(env["instance_id"])) / "shared" / "app.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    stdout = next(p for p in (sb.root / "artifacts").rglob("stdout"))
    assert APP_PASSWORD not in stdout.read_text(), "no_log kept the password out of the output"


def test_a_failed_clone_fails_only_that_environment_with_the_reason(db_sandbox: Sandbox) -> None:
    sb = db_sandbox
    ghost = next(s for s in sb.config_dict()["database"]["allowed_sources"] if s.startswith("dev_ghost"))
    bad, _ = sb.open_pr("g1", "ghost source", author="alice", labels=[f"db:{ghost}"])
    good, _ = sb.open_pr("g2", "fine", author="alice")
    out = run_cli(sb, "reconcile")
    assert out.returncode == 1
    state = envs(sb)
    assert state[bad]["status"] == "failed"
    assert state[bad]["failed_task"] == "Clone the environment's database schema."
    assert state[bad]["failed_step"] == "schema"
    assert "unknown source schema" in state[bad]["message"]
    assert state[good]["status"] == "ready"


def test_a_drop_the_closing_pass_died_before_is_done_by_the_next(
    db_sandbox: Sandbox, mariadb: MariaDB
) -> None:
    """The pass that unassigns a closed PR records the schema drop with its intent; killed before
    its playbook run, it leaves the drop to the next pass, which no longer sees the PR."""
    sb = db_sandbox
    sb.extra_config["database"]["on_close"] = "drop"
    sb.write_config()
    number, _ = sb.open_pr("d2", "to be closed while a pass dies", author="alice")
    reconcile_ok(sb)
    (env,) = envs(sb).values()
    schema = page(sb, sb.addr_of(env["instance_id"])).split("db: ", 1)[1].split()[0]
    sb.github.close(number)
    marker = sb.root / "crash-marker"
    killed = subprocess.run(
        [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "reconcile"],
        env={**os.environ, "PULLREKUN_CRASH_AT": "before-run", "PULLREKUN_CRASH_MARKER": str(marker)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert marker.read_text().strip() == "before-run"
    assert envs(sb) == {}, "the closed PR's environment was unassigned before the kill"
    assert mariadb.sql(f"SHOW DATABASES LIKE '{schema}'").stdout.strip() == schema, "not dropped yet"
    planned = run_cli(sb, "plan")
    assert f"DropSchema: instance_id={env['instance_id']}, schema={schema}" in planned.stdout, planned.stdout
    (pending,) = status_of(sb)["schema_drops"]
    assert (pending["instance_id"], pending["schema"]) == (env["instance_id"], schema), "status says it waits"
    reconcile_ok(sb)
    assert mariadb.sql(f"SHOW DATABASES LIKE '{schema}'").stdout.strip() == ""
    assert status_of(sb)["schema_drops"] == []
    assert "DropSchema" not in run_cli(sb, "plan").stdout, "done once, then forgotten"


def test_on_close_drop_removes_the_schema(db_sandbox: Sandbox, mariadb: MariaDB) -> None:
    sb = db_sandbox
    sb.extra_config["database"]["on_close"] = "drop"
    sb.write_config()
    number, _ = sb.open_pr("d1", "to be closed", author="alice")
    reconcile_ok(sb)
    (env,) = envs(sb).values()
    schema = page(sb, sb.addr_of(env["instance_id"])).split("db: ", 1)[1].split()[0]
    assert mariadb.sql(f"SHOW DATABASES LIKE '{schema}'").stdout.strip() == schema
    sb.github.close(number)
    reconcile_ok(sb)
    assert mariadb.sql(f"SHOW DATABASES LIKE '{schema}'").stdout.strip() == ""
