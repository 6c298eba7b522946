"""A PR's code on a staging host cannot reach past its own environment.

Real parts: an sshd host on loopback that pullrekun deploys to as root (the deploy user), a
runtime user created for the test, MariaDB with the environment's schema cloned from a source
that has a trigger and a stored procedure. The PR's migrate command is a probe: as the PR's
code it tries to plant an SSH key for the deploy user, to write into the releases, the cached
clone, the control script and the record of the running process, to repoint `current`, and
to read another schema; it writes what it could do into the one directory it may write.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sshd import SshdHosts

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.core.dbusers import env_password, env_user
from tests.conftest import _db_names, need, run_pass, separated_world, status_of

RUN_USER = "prk-rt"
SECRET = "env-user-secret 'derived' #1"
PLANTED = "# planted by a pull request"

#: The PR's migrate command. Its working directory is releases/<sha>; `try` runs one attempt.
PROBE = r"""#!/bin/sh
root=$(cd ../.. && pwd)
try() {
  name=$1; shift
  if ( "$@" ) >/dev/null 2>&1; then echo "$name allowed"; else echo "$name denied"; fi
}
keys="$(getent passwd root | cut -d: -f6)/.ssh/authorized_keys"
{
  echo "user $(id -un)"
  try authorized_keys sh -c "echo '__PLANTED__' >> '$keys'"
  try releases touch "$root/releases/planted"
  try release_file sh -c "echo '__PLANTED__' >> '$PWD/app.py'"
  try appctl sh -c "echo '__PLANTED__' >> '$root/shared/appctl'"
  try record sh -c "echo pid=1 > '$root/shared/running'"
  try repo touch "$root/repo/planted"
  try current ln -sfn / "$root/current"
  try data touch "$PULLREKUN_DATA_DIR/written"
  export MYSQL_PWD="$DB_PASSWORD"
  db="mariadb --no-defaults -h $DB_HOST -P $DB_PORT -u $DB_USER -e"
  try own_schema $db "SELECT COUNT(*) FROM \`$DB_NAME\`.notes"
  try source_schema $db "SELECT COUNT(*) FROM \`__SOURCE__\`.notes"
} > "$PULLREKUN_DATA_DIR/probe.txt"
""".replace("__PLANTED__", PLANTED)


@pytest.fixture
def run_user() -> Iterator[pwd.struct_passwd]:
    """A runtime user of the test's own; afterwards its processes are ended by PID and it goes."""
    need(None if os.getuid() == 0 else "creating a user needs root (CI runs as root)")
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_USER], check=False
    )
    yield pwd.getpwnam(RUN_USER)
    pids = subprocess.run(
        ["pgrep", "-u", RUN_USER], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in pids:
        subprocess.run(["kill", "-KILL", pid], check=False)
    subprocess.run(["userdel", RUN_USER], check=False, capture_output=True)


@pytest.fixture
def deploy_base() -> Iterator[Path]:
    """Deploy roots the runtime user can reach (pytest's own tmp is 0700)."""
    base = Path(f"/var/tmp/pullrekun-isolation-{os.getpid()}")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o755)
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def root_keys() -> Iterator[Path]:
    """The deploy user's (root's) authorized_keys, restored afterwards whatever the probe did."""
    keys = Path(pwd.getpwnam("root").pw_dir) / ".ssh" / "authorized_keys"
    keys.parent.mkdir(mode=0o700, exist_ok=True)
    before = keys.read_bytes() if keys.exists() else None
    yield keys
    if before is None:
        keys.unlink(missing_ok=True)
    else:
        keys.write_bytes(before)


def test_the_prs_code_runs_as_the_app_user_and_cannot_reach_past_its_environment(
    tmp_path: Path,
    sshd_hosts: SshdHosts,
    mariadb: MariaDB,
    run_user: pwd.struct_passwd,
    deploy_base: Path,
    root_keys: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = next(_db_names)
    source, other = f"iso_src_{n}", f"iso_other_{n}"
    statements = [f"DROP DATABASE IF EXISTS {source}", f"DROP DATABASE IF EXISTS {other}"]
    statements += [
        f"CREATE DATABASE {source}",
        f"CREATE DATABASE {other}",
        f"CREATE TABLE {source}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100))",
        f"CREATE TABLE {other}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100))",
        f"INSERT INTO {source}.notes (body) VALUES ('one'), ('two')",
        f"CREATE TRIGGER {source}.upper_body BEFORE INSERT ON {source}.notes "
        "FOR EACH ROW SET NEW.body = UPPER(NEW.body)",
        f"CREATE PROCEDURE {source}.note_count() SELECT COUNT(*) FROM notes",
    ]
    done = mariadb.sql("; ".join(statements))
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("PULLREKUN_DB_ADMIN_PASSWORD", "")
    monkeypatch.setenv("PULLREKUN_DB_APP_PASSWORD", SECRET)
    sb = separated_world(
        sshd_hosts,
        tmp_path / "world",
        mariadb,
        RUN_USER,
        deploy_base,
        {
            "default_source": source,
            "schema_template": f"iso_{n}_{{instance}}",
            "migrate_command": "sh probe.sh",
            "on_close": "drop",
        },
    ).start()
    try:
        sb.git("checkout", "-q", "-b", "probe")
        (sb.origin / "probe.sh").write_text(PROBE.replace("__SOURCE__", source))
        sb.git("add", "probe.sh")
        sb.git("commit", "-q", "-m", "A migration that probes what it may do")
        sha = sb.git("rev-parse", "HEAD")
        sb.git("push", "-q", str(sb.remote), "probe")
        sb.git("checkout", "-q", "main")
        pr = sb.github.open_pr(sha, head_ref="probe", title="probe")

        result = run_pass(sb)
        assert result.ok, (result.problem, result.outcomes)
        (env,) = status_of(sb)["environments"]
        addr = sb.addr_of(env["instance_id"])
        # Debian's python has no pymysql for the page's database line: ask the health URL.
        with urllib.request.urlopen(f"http://{addr}:{sb.app_port}/health", timeout=5) as resp:
            assert resp.headers["X-Revision"] == sha
        root = sb.deploy_root(addr)

        # What the PR's code could do, in its own words.
        probe = (root / "shared" / "data" / "probe.txt").read_text().splitlines()
        assert probe == [
            f"user {RUN_USER}",
            "authorized_keys denied",
            "releases denied",
            "release_file denied",
            "appctl denied",
            "record denied",
            "repo denied",
            "current denied",
            "data allowed",
            "own_schema allowed",
            "source_schema denied",
        ], probe
        assert PLANTED not in (root_keys.read_text() if root_keys.exists() else "")
        assert PLANTED not in (root / "shared" / "appctl").read_text()

        # The app runs as the runtime user too; the record of it is the deploy user's.
        record = dict(
            line.split("=", 1)
            for line in (root / "shared" / "running").read_text().splitlines()
            if "=" in line
        )
        status = Path(f"/proc/{record['pid']}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(run_user.pw_uid)}, uids
        assert (root / "shared" / "running").stat().st_uid == 0
        assert (root / "shared" / "data").stat().st_uid == run_user.pw_uid

        # The environment's own database user: rights on its schema only, definer of its objects.
        schema = env["db_schema"]
        user = env_user(schema)
        grants = mariadb.sql(f"SHOW GRANTS FOR '{user}'@'%'").stdout
        granted_on = sorted(
            line.split(" ON ", 1)[1].split(" TO ", 1)[0] for line in grants.splitlines() if " ON " in line
        )
        # `_` is escaped in the grant (else it would match any character); the client's batch
        # output doubles the backslash.
        pattern = schema.replace("_", "\\\\_")
        assert granted_on == ["*.*", f"`{pattern}`.*"], grants
        assert "GRANT USAGE ON *.*" in grants
        definers = mariadb.sql(
            f"SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='{schema}' "
            f"UNION ALL SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='{schema}'"
        ).stdout.split()
        assert definers[-2:] == [f"{user}@%", f"{user}@%"], definers
        env_file = (root / "shared" / "app.env").read_text()
        assert f"DB_USER={user}" in env_file
        store = Store.open(config_mod.load(sb.config_path).state_url)
        try:
            (assignment,) = store.journal.assignments()
        finally:
            store.close()
        assert assignment.db_nonce, "the clone gave the environment's owner a nonce"
        assert env_password(SECRET, schema, assignment.db_nonce) in env_file
        assert SECRET not in env_file

        # Closing the PR drops the schema and its user with it (on_close = "drop").
        sb.github.close(pr)
        assert run_pass(sb).ok
        users = mariadb.sql(f"SELECT COUNT(*) FROM mysql.user WHERE User='{user}'").stdout.split()
        assert users[-1] == "0", users
    finally:
        sb.stop()
