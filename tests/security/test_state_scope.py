"""One pass at a time per state DB, a lost lock records nothing, and a relative SQLite path
means the same state wherever pullrekun runs from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.lock import LockLost, pass_lock
from pullrekun.adapters.state.store import Store
from pullrekun.app import crashpoint
from pullrekun.cli import EXIT_LOCKED, EXIT_OK
from tests.conftest import LOCAL_FIRST_HOST, _db_names, run_cli, run_pass, status_of


@pytest.fixture
def mysql_sandbox(tmp_path: Path, mariadb: MariaDB) -> Iterator[Sandbox]:
    url = mariadb.create_database(f"pullrekun_scope_{next(_db_names)}")
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST, state_url=url).start()
    yield sb
    sb.stop()


def test_two_controllers_of_different_pools_on_one_state_db_take_turns(mysql_sandbox: Sandbox) -> None:
    sb = mysql_sandbox
    other = sb.config_dict()
    other["ec2"]["pool"] = "another-pool"
    other_config = sb.root / "other.toml"
    other_config.write_text(sb.config_path.read_text().replace('pool = "default"', 'pool = "another-pool"'))
    assert config_mod.load(other_config).ec2.pool == "another-pool"
    store = Store.open(sb.state_db_url)
    try:
        with pass_lock(store.engine):  # the first controller's pass
            out = subprocess.run(
                [sys.executable, "-m", "pullrekun", "--config", str(other_config), "reconcile"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert out.returncode == EXIT_LOCKED, out.stderr
            assert "another pass holds the MySQL lock 'pullrekun:pullrekun_scope_" in out.stderr
    finally:
        store.close()
    assert run_cli(sb, "reconcile").returncode == EXIT_OK


def test_a_pass_whose_lock_was_lost_records_nothing_and_the_next_finishes(
    mysql_sandbox: Sandbox, mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = mysql_sandbox
    number, sha = sb.open_pr("lost", "lock lost")
    database = sb.state_db_url.rsplit("/", 1)[1].split("?")[0]
    real_reached = crashpoint.reached

    def drop_the_lock_connection(point: str) -> None:
        if point == "after-run":  # the server drops the lock's connection (wait_timeout, a restart)
            holder = mariadb.sql(f"SELECT IS_USED_LOCK('pullrekun:{database}')").stdout.strip()
            assert holder.isdigit(), holder
            assert mariadb.sql(f"KILL {holder}").returncode == 0
        real_reached(point)

    monkeypatch.setattr(crashpoint, "reached", drop_the_lock_connection)
    with pytest.raises(LockLost, match="lost the MySQL lock"):
        run_pass(sb)
    (env,) = status_of(sb)["environments"]
    assert env["status"] == "deploying", "no outcome was recorded by the pass without its lock"
    monkeypatch.setattr(crashpoint, "reached", real_reached)
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    assert (env["pr"], env["status"], env["sha"]) == (number, "ready", sha)


def test_a_relative_sqlite_path_is_taken_from_the_config_files_directory(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.state_url = "sqlite:///relative-state.db"
    sb.write_config()
    sb.open_pr("rel", "relative")
    for cwd in (sb.root, Path("/")):
        out = subprocess.run(
            [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "status", "--json"],
            cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )  # fmt: skip
        assert out.returncode == EXIT_OK, out.stderr
        assert json.loads(out.stdout)["environments"] == []
    assert (sb.config_path.parent / "relative-state.db").is_file()
    assert not Path("/relative-state.db").exists()
    assert config_mod.load(sb.config_path).state_url == f"sqlite:///{sb.root / 'relative-state.db'}"
