"""A pass killed at any step leaves a world the next pass finishes: the promise, proven step by step.

For every task of the reconcile playbook and the staging role that a deploy goes through, for the
migrate command half-way, and for the controller's own steps (before the run, after the run but
before the outcomes are recorded, during the report), one round:

1. churn, the cheapest that goes through that step (see the round kinds below): a new PR that
   needs a stopped instance started; a push and a close; a PR turned draft whose running instance
   goes to a new PR (the instance changes hands); a push (new release, migrate, switch, restart);
2. a pass killed by SIGKILL at that step, either the pullrekun process alone (``kill -9 <pid>``,
   the playbook run must die with it) or its whole process tree (what systemd does); the test
   checks the kill landed there;
3. right after the kill: GitHub shows no PR ready at a URL that serves anything else, and a host
   claimed for a PR serves that PR's commits or nothing; then one normal pass, and the checks:
   every environment shown ``ready`` serves exactly its PR's head over HTTP and GitHub's status
   agrees; no instance serves a PR that does not hold it; nothing runs for nobody; the migration
   for each live release ran to completion exactly once on its environment's schema, and no
   half-migrated schema went live.

Kills are injected deterministically: an Ansible callback (tests/crash/callback_plugins) kills when
the named task has run on a host; the migrate command kills half-way; the controller's steps
call ``pullrekun.app.crashpoint.reached``. The rounds run on one world per state DB (SQLite, MariaDB).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sandbox import Sandbox
from pullrekun_sandbox.sshd import SshdHosts

from pullrekun.adapters.playbook.guard import RECORD_NAME
from pullrekun.adapters.playbook.procs import read_record, run_processes
from pullrekun.app import crashpoint
from tests.conftest import _db_names, database_section, run_pass, ssh_world, status_of

HERE = Path(__file__).resolve().parent.parent / "crash"
HOOK_TASK = "Record that the before-switch hook ran."
START = "Start the instances (all in one task)."
WAIT = "Wait until the started instance answers."
RELEASE = "Ensure the host serves this environment and the release for the commit is present."
CLONE = "Clone the environment's database schema."
DURING_MIGRATE = "during-migrate"
MIGRATE = "Run the migrate command in the new release (once per release and schema)."
SWITCH = "Point current at the release, which makes it live."
RESTART = "Restart the app unless it runs this release with these settings."

#: Round kinds, from the resting state (PR X and PR Y hold instances, the third is stopped):
#: "start": a new PR gets the stopped instance started; "release" (after a "start"): a push to
#: X and the new PR closed, its instance stopped; "handover": Y turns draft and a new PR gets
#: its running instance (the new PR then stands in for Y); "push": a push to X.
START_ROUND, RELEASE_ROUND, HANDOVER, PUSH = "start", "release", "handover", "push"
#: Each step is killed in the cheapest round that goes through it.
_STARTS = [(START, MIGRATE), (WAIT, SWITCH)]
_HANDOVERS = (RELEASE, CLONE)
_PUSHES = (DURING_MIGRATE, HOOK_TASK, RESTART)
_CONTROLLER = crashpoint.POINTS


def _rounds(
    mode: str, starts: list[tuple[str, str]], handovers: tuple[str, ...], pushes: tuple[str, ...]
) -> list[Any]:
    rounds = []
    for start_point, release_point in starts:
        rounds.append(pytest.param(START_ROUND, start_point, mode, id=f"{mode}-{start_point}"))
        rounds.append(pytest.param(RELEASE_ROUND, release_point, mode, id=f"{mode}-{release_point}"))
    rounds += [pytest.param(HANDOVER, point, mode, id=f"{mode}-{point}") for point in handovers]
    rounds += [pytest.param(PUSH, point, mode, id=f"{mode}-{point}") for point in pushes]
    return rounds


#: SQLite: every step with the whole process group killed (what systemd, the OOM killer or
#: `kill -9 -<pgid>` do). With only the pullrekun process killed, the playbook's guard ends the
#: run; that path is the same at every playbook step, so it is killed at one step of each
#: playbook phase (start, release, migrate). At the controller's own steps no playbook run is
#: alive (before it starts, after it ended), so the two kills leave the same world: the group's
#: is the one tested. MariaDB (the state DB whose lock is a connection): the controller's own
#: steps, where the state DB is written and the lock held.
SCHEDULES = {
    "sqlite": _rounds("process", _STARTS[:1], (), (DURING_MIGRATE,))
    + _rounds("group", _STARTS, _HANDOVERS, _PUSHES + _CONTROLLER),
    "mariadb": _rounds("group", [], (), _CONTROLLER),
}


@dataclass
class CrashWorld:
    sb: Sandbox
    mariadb: MariaDB
    schemas: str
    #: The two PRs that hold an instance at the start of a round (the third instance is stopped).
    kept: list[int] = field(default_factory=list)
    branch: int = 0
    #: Which PR each commit belongs to.
    owner: dict[str, int] = field(default_factory=dict)

    def commit(self, prefix: str) -> tuple[str, str]:
        self.branch += 1
        branch = f"{prefix}{self.branch}"
        return branch, self.sb.commit(branch, f"{prefix} {self.branch}")

    def open_pr(self, prefix: str) -> int:
        branch, sha = self.commit(prefix)
        number = self.sb.github.open_pr(sha, head_ref=branch, title=branch)
        self.owner[sha] = number
        return number

    def push(self, number: int) -> None:
        sha = self.sb.commit(self.sb.github.prs[number].head_ref, f"push {self.branch}")
        self.branch += 1
        self.owner[sha] = number
        self.sb.github.push(number, sha)

    def pass_ok(self) -> None:
        result = run_pass(self.sb)
        assert result.ok, (result.problem, result.outcomes)


@pytest.fixture(scope="module")
def crash_world(
    tmp_path_factory: pytest.TempPathFactory,
    sshd_hosts: SshdHosts,
    mariadb: MariaDB,
) -> Iterator[CrashWorld]:
    yield from _world(tmp_path_factory, sshd_hosts, mariadb, "sqlite")


def _world(
    tmp_path_factory: pytest.TempPathFactory, sshd_hosts: SshdHosts, mariadb: MariaDB, state_db: str
) -> Iterator[CrashWorld]:
    n = next(_db_names)
    root = tmp_path_factory.mktemp(f"crash-{state_db}")
    state_url = mariadb.create_database(f"pullrekun_{n}") if state_db == "mariadb" else None
    schemas = f"crash{n}"
    source = f"{schemas}_dev"
    out = mariadb.sql(
        f"DROP DATABASE IF EXISTS {source}; CREATE DATABASE {source};"
        f" CREATE TABLE {source}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100));"
        f" INSERT INTO {source}.notes (body) VALUES ('seed');"
        + "".join(
            f" CREATE USER IF NOT EXISTS 'crash_app'@'{h}' IDENTIFIED BY 'app';"
            f" GRANT ALL ON `{schemas}\\_%`.* TO 'crash_app'@'{h}';"
            for h in ("127.0.0.1", "localhost")
        )
    )
    assert out.returncode == 0, out.stderr
    hook = root / "hook.yml"
    hook.write_text(
        f"- name: {HOOK_TASK}\n"
        "  ansible.builtin.file:\n"
        "    path: '{{ __staging_release_dir }}/HOOK_RAN'\n"
        "    state: touch\n"
        "    mode: '0644'\n"
        "    modification_time: preserve\n"
        "    access_time: preserve\n"
    )
    saved = {k: os.environ.get(k) for k in ("PULLREKUN_DB_ADMIN_PASSWORD", "PULLREKUN_DB_APP_PASSWORD")}
    os.environ.update(PULLREKUN_DB_ADMIN_PASSWORD="", PULLREKUN_DB_APP_PASSWORD="app")
    sb = ssh_world(
        sshd_hosts,
        root / "world",
        hosts=3,
        state_url=state_url,
        extra_config={
            "app": {"before_switch_hook": str(hook)},
            # The crash_at callback runs in the playbook, which sees only what it is given.
            "ansible": {"pass_env": CRASH_ENV},
            "database": database_section(
                mariadb,
                app_user="crash_app",
                default_source=source,
                schema_template=f"{schemas}_{{instance}}",
                migrate_command=f"{sys.executable} {HERE / 'crash_migrate.py'} {root / 'migrate-crash'}",
            ),
        },
    ).start()
    world = CrashWorld(sb, mariadb, schemas)
    try:
        world.kept = [world.open_pr("keep"), world.open_pr("keep")]
        world.pass_ok()
        _check_world(world, set(world.kept))
        yield world
    finally:
        sb.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: What the crash_at callback reads in the playbook run (which sees only what it is given).
CRASH_ENV = [
    "PULLREKUN_CRASH_AT", "PULLREKUN_CRASH_MARKER", "PULLREKUN_CRASH_MODE", "ANSIBLE_CALLBACKS_ENABLED",
]  # fmt: skip


def _killed_pass(w: CrashWorld, point: str, mode: str) -> None:
    marker = w.sb.root / "crash-marker"
    marker.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PULLREKUN_CRASH_MARKER": str(marker),
        "PULLREKUN_CRASH_MODE": mode,
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "crash_at",
    }
    if point != "during-migrate":
        env["PULLREKUN_CRASH_AT"] = point
    proc = subprocess.Popen(
        [sys.executable, "-m", "pullrekun", "--config", str(w.sb.config_path), "reconcile"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if point == "during-migrate":
        (w.sb.root.parent / "migrate-crash").write_text(f"{proc.pid} {mode} {marker}\n")
    output, _ = proc.communicate(timeout=300)
    (w.sb.root.parent / "migrate-crash").unlink(missing_ok=True)
    assert proc.returncode == -9, (
        f"the pass was not killed at {point!r} (rc {proc.returncode}):\n{output[-4000:]}"
    )
    assert marker.read_text().strip() == point, "the kill landed somewhere else"
    # The playbook run dies with its pass, also when only the pullrekun process was killed.
    for record in (w.sb.root / "artifacts").glob(f"*/{RECORD_NAME}"):
        groups = read_record(str(record)) or []
        deadline = time.monotonic() + 15
        while run_processes(groups):
            assert time.monotonic() < deadline, f"the playbook run {record.parent.name} outlived its pass"
            time.sleep(0.02)


def _check_github_tells_the_truth(w: CrashWorld) -> None:
    """Whatever a pass died doing: a PR whose head GitHub shows "ready" at a URL is served there."""
    for number, pr in w.sb.github.prs.items():
        shown = w.sb.github.last_status(pr.head_sha) if pr.state == "open" else None
        if shown is None or shown["state"] != "success" or not shown.get("target_url"):
            continue
        addr = urllib.parse.urlsplit(shown["target_url"]).hostname
        assert addr is not None
        served = w.sb.served(addr)
        assert served == pr.head_sha, f"GitHub shows PR #{number} ready at {addr}, which serves {served}"


def _check_claims(w: CrashWorld) -> None:
    """A host claimed for a PR (shared/environment) serves that PR's commits or nothing."""
    for addr in w.sb.host_addrs:
        claim = w.sb.deploy_root(addr) / "shared" / "environment"
        served = w.sb.served(addr)
        if served is None or not claim.exists():
            continue
        holder = int(claim.read_text().strip().removeprefix("pr-"))
        assert w.owner[served] == holder, (
            f"{addr} is claimed for PR #{holder} but serves PR #{w.owner[served]}"
        )


def _check_world(w: CrashWorld, expected: set[int]) -> None:
    sb = w.sb
    heads = {n: pr.head_sha for n, pr in sb.github.prs.items() if pr.state == "open"}
    envs = {s["pr"]: s for s in status_of(sb)["environments"] if s["pr"] is not None}
    assert set(envs) == expected, "every eligible PR holds an instance"
    held = {}
    for pr, env in envs.items():
        assert env["status"] == "ready", f"PR #{pr}: {env}"
        assert env["sha"] == heads[pr]
        addr = sb.addr_of(env["instance_id"])
        assert sb.served(addr) == heads[pr], f"PR #{pr} shows ready but {addr} serves {sb.served(addr)}"
        github = sb.github.last_status(heads[pr])
        assert github is not None
        assert (github["state"], github.get("target_url")) == ("success", env["url"])
        held[env["instance_id"]] = pr
        schema = f"{w.schemas}_{env['instance_id'].replace('-', '_')}"
        runs = w.mariadb.sql(
            f"SELECT COUNT(*) FROM `{schema}`.migration_runs WHERE release_sha = '{heads[pr]}'"
        )
        assert runs.returncode == 0, runs.stderr
        assert runs.stdout.split()[-1] == "1", f"PR #{pr}: migration runs for its head: {runs.stdout}"
    for iid in sb.instance_ids:
        if iid in held:
            continue
        assert sb.instance_state(iid) == "stopped", f"{iid} runs for nobody"
        assert sb.served(sb.addr_of(iid)) is None, f"{iid} serves for nobody"


def _round(w: CrashWorld, kind: str, point: str, mode: str) -> None:
    gh = w.sb.github
    if kind == START_ROUND:
        w.kept.append(w.open_pr("new"))
    elif kind == RELEASE_ROUND:
        w.push(w.kept[0])
        gh.close(w.kept.pop())
    elif kind == HANDOVER:
        gh.set_draft(w.kept[1], True)
        w.kept[1] = w.open_pr("new")
    else:
        w.push(w.kept[0])
    _killed_pass(w, point, mode)
    _check_github_tells_the_truth(w)
    _check_claims(w)
    w.pass_ok()
    _check_world(w, set(w.kept))
    _check_github_tells_the_truth(w)


@pytest.mark.parametrize(("kind", "point", "mode"), SCHEDULES["sqlite"])
def test_a_pass_killed_at_any_step_is_finished_by_the_next(
    crash_world: CrashWorld, kind: str, point: str, mode: str
) -> None:
    _round(crash_world, kind, point, mode)
