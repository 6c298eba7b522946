"""Nothing of one PR reaches the next on a shared instance: host, processes, database, credentials.

Real parts: a loopback sshd host bootstrapped by `playbooks/staging.yml` (the run user of its
own, as the README walkthrough does), MariaDB with per-environment users, two sources. PR 1's
migration acts as hostile code would: files in the run user's home (a `.pth` among them), in
/tmp, /var/tmp, /dev/shm and shared/data, a detached process, an EVENT in its schema; its app
prints into the app's log; the test keeps a connection open with the credentials it read from
the host's env file. PR 1 closes, PR 2 (another author, another source) gets the one instance:
none of it is left, and PR 1's credentials no longer open anything. Then the same code runs for
PR 3, whose PR closes with nobody waiting: the stop wipes the host just the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sshd import SshdHosts

from tests.conftest import _db_names, ansible_ssh, need, run_pass, separated_world, status_of
from tests.paths import REPO

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")

RUN_USER = "prk-handover"
SECRET = "handover secret #1"
MARK = "planted-by-pr-one"
SLEEP = "31337"

#: PR 1's migrate command: what hostile code leaves behind for the next owner of the host.
PLANT = f"""#!/bin/sh
set -e
echo {MARK} > "$HOME/.{MARK}"
mkdir -p "$HOME/.local/lib/python3/site-packages"
echo "import os  # {MARK}" > "$HOME/.local/lib/python3/site-packages/{MARK}.pth"
for dir in /tmp /var/tmp /dev/shm; do echo {MARK} > "$dir/{MARK}-$(id -u)"; done
echo {MARK} > "$PULLREKUN_DATA_DIR/{MARK}"
setsid sh -c 'exec sleep {SLEEP}' </dev/null >/dev/null 2>&1 &
export MYSQL_PWD="$DB_PASSWORD"
mariadb --no-defaults -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" "$DB_NAME" \\
  -e "CREATE EVENT {MARK.replace("-", "_")} ON SCHEDULE EVERY 1 HOUR DO DELETE FROM notes"
"""


@pytest.fixture
def run_user() -> Iterator[str]:
    """The bootstrap creates the run user; afterwards its processes end (by PID) and it goes."""
    need(None if os.getuid() == 0 else "creating a user needs root (CI runs as root)")
    yield RUN_USER
    with contextlib.suppress(KeyError):
        uid = pwd.getpwnam(RUN_USER).pw_uid
        for pid in _pids_of(uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", "-r", RUN_USER], check=False, capture_output=True)
    for tmp in ("/tmp", "/var/tmp", "/dev/shm"):
        for leftover in Path(tmp).glob(f"{MARK}-*"):
            leftover.unlink(missing_ok=True)


@pytest.fixture
def deploy_base() -> Iterator[Path]:
    """Deploy roots the run user can reach (pytest's own tmp is 0700)."""
    base = Path(f"/var/tmp/pullrekun-handover-{os.getpid()}")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o755)
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _pids_of(uid: int) -> list[int]:
    """Live (not zombie) processes of ``uid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(entry.name))
    return pids


def _tree(root: int) -> set[int]:
    """``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def _bootstrap(sshd_hosts: SshdHosts, addr: str, root: str, tmp: Path, repo_url: str) -> None:
    """`playbooks/staging.yml`, as the README's walkthrough runs it, for one host."""
    inventory = tmp / "staging-hosts.json"
    inventory.write_text(json.dumps({"pool_default": {"hosts": {addr: {"ansible_host": addr}}}}))
    extra = {
        "ansible_user": sshd_hosts.user,
        "ansible_ssh_private_key_file": str(sshd_hosts.private_key),
        "ansible_become_method": "su",
        "ansible_python_interpreter": "/usr/bin/python3",
        "staging_repo_url": repo_url,
        "staging_app_command": "/usr/bin/python3 app.py",
        "staging_app_user": RUN_USER,
        "staging_deploy_user": sshd_hosts.user,
        "staging_deploy_root": root,
        "staging_service_manager": "start-stop-daemon",
        "staging_packages": [],
    }
    (tmp / "staging-vars.json").write_text(json.dumps(extra))
    command = ["ansible-playbook", "-i", str(inventory), "playbooks/staging.yml"]
    with ansible_ssh(str(tmp / "known_hosts")) as ssh_env:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            **ssh_env,
            "ANSIBLE_HOME": str(tmp / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        }
        out = subprocess.run(
            [*command, "-e", f"@{tmp / 'staging-vars.json'}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]


def _host_leftovers(root: Path, home: Path, skel: list[str], uid: int, allowed: set[int]) -> list[str]:
    """What PR code left on the host: files in the run user's home, its temporary directories,
    shared/data and the log, and processes of the run user outside ``allowed``."""
    left = []
    if sorted(p.name for p in home.iterdir()) != skel:
        left.append(f"the run user's home: {sorted(p.name for p in home.iterdir())}")
    left += [
        f"{tmp}: {MARK}" for tmp in ("/tmp", "/var/tmp", "/dev/shm") if Path(f"{tmp}/{MARK}-{uid}").exists()
    ]
    left += [f"shared/data: {p.name}" for p in (root / "shared" / "data").iterdir()]
    log = root / "shared" / "app.log"
    if log.exists() and MARK in log.read_text():
        left.append("PR 1's lines in the app's log")
    for pid in sorted(set(_pids_of(uid)) - allowed):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        left.append(f"process {pid}: {cmdline}")
    return left


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v.strip("'") for k, v in pairs}


def _connect(creds: dict[str, str], mariadb: MariaDB) -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1",
        port=mariadb.port,
        user=creds["DB_USER"],
        password=creds["DB_PASSWORD"],
        database=creds["DB_NAME"],
        connect_timeout=5,
    )


def test_the_next_pr_gets_a_clean_host_a_clean_schema_and_new_credentials(
    tmp_path: Path,
    sshd_hosts: SshdHosts,
    mariadb: MariaDB,
    run_user: str,
    deploy_base: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = next(_db_names)
    src_one, src_two = f"ho_one_{n}", f"ho_two_{n}"
    statements = []
    for schema, rows in ((src_one, "('one-a'), ('one-b')"), (src_two, "('two-a')")):
        statements += [
            f"DROP DATABASE IF EXISTS {schema}",
            f"CREATE DATABASE {schema}",
            f"CREATE TABLE {schema}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100))",
            f"INSERT INTO {schema}.notes (body) VALUES {rows}",
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
            "default_source": src_two,
            "authors": {"alice": src_one},
            "schema_template": f"ho_{n}_{{instance}}",
            "migrate_command": "sh migrate.sh",
        },
    ).start()
    conn = None
    try:
        (addr,) = sb.host_addrs
        root = sb.deploy_root(addr)
        _bootstrap(
            sshd_hosts, addr, str(deploy_base / "{{ ansible_host }}" / "app"), tmp_path, str(sb.remote)
        )
        home = Path(pwd.getpwnam(RUN_USER).pw_dir)
        skel = sorted(p.name for p in Path("/etc/skel").iterdir())
        assert sorted(p.name for p in home.iterdir()) == skel, "the bootstrap's home"

        (sb.origin / "migrate.sh").write_text("exit 0\n")
        sb.git("add", "migrate.sh")
        sb.git("commit", "-q", "-m", "No migrations yet")
        sb.git("push", "-q", str(sb.remote), "main")
        sb.git("checkout", "-q", "-b", "plant")
        (sb.origin / "migrate.sh").write_text(PLANT)
        app = (sb.origin / "app.py").read_text()
        marker = 'REVISION = os.environ.get("PULLREKUN_REVISION", "unknown")\n'
        (sb.origin / "app.py").write_text(app.replace(marker, marker + f'print("{MARK}", flush=True)\n'))
        sb.git("commit", "-q", "-am", "A migration that leaves things behind")
        sha_one = sb.git("rev-parse", "HEAD")
        sb.git("push", "-q", str(sb.remote), "plant")
        sb.git("checkout", "-q", "main")
        pr_one = sb.github.open_pr(sha_one, head_ref="plant", title="plant", author="alice")

        result = run_pass(sb)
        assert result.ok, (result.problem, result.outcomes)
        uid = pwd.getpwnam(RUN_USER).pw_uid
        creds = _env_file(root / "shared" / "app.env")
        conn = _connect(creds, mariadb)  # PR 1's code keeps a session open
        assert (root / "shared" / "data" / MARK).exists(), "the planting ran"
        assert MARK in (root / "shared" / "app.log").read_text(), "PR 1's app wrote the log"
        assert any(
            Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", SLEEP.encode()]
            for pid in _pids_of(uid)
        ), "the detached process runs"

        sb.github.close(pr_one)
        pr_two, sha_two = sb.open_pr("next", "the next PR", author="bob")
        result = run_pass(sb)
        assert result.ok, (result.problem, result.outcomes)
        (env,) = status_of(sb)["environments"]
        assert (env["pr"], env["sha"]) == (pr_two, sha_two)

        left: list[str] = []
        with pytest.raises(pymysql.err.OperationalError) as refused:
            _connect(creds, mariadb).close()
        assert refused.value.args[0] == 1045, refused.value  # access denied
        try:
            conn.ping(reconnect=False)
            left.append("PR 1's open session is still alive")
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
            pass
        schema = env["db_schema"]
        event = mariadb.sql(f"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA='{schema}'")
        if event.stdout.strip():
            left.append(f"PR 1's event: {event.stdout.strip()}")
        got = mariadb.sql(f"SELECT body FROM {schema}.notes ORDER BY id")
        notes = got.stdout.split() or [got.stderr.strip()]
        if notes != ["two-a"]:
            left.append(f"PR 2's data is not its source's: {notes}")
        if _env_file(root / "shared" / "app.env")["DB_PASSWORD"] == creds["DB_PASSWORD"]:
            left.append("PR 2 got PR 1's password")

        record = dict(
            line.split("=", 1)
            for line in (root / "shared" / "running").read_text().splitlines()
            if "=" in line
        )
        left += _host_leftovers(root, home, skel, uid, _tree(int(record["pid"])))
        assert left == [], left

        # PR 1's code again (PR 3), then its PR closes with nobody waiting: the instance is
        # stopped, and what the code left goes with the stop.
        pr_three = sb.github.open_pr(sha_one, head_ref="plant", title="plant again", author="alice")
        sb.github.close(pr_two)
        assert run_pass(sb).ok
        assert (root / "shared" / "data" / MARK).exists(), "the planting ran again"
        sb.github.close(pr_three)
        assert run_pass(sb).ok
        assert status_of(sb)["environments"] == []
        assert _host_leftovers(root, home, skel, uid, set()) == []
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        sb.stop()
