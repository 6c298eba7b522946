"""Fixtures for the test world: loopback sshd hosts, a real MariaDB, the sandbox.

Where a part of the world is missing, its tests skip with the reason, unless
PULLREKUN_REQUIRE_WORLD=1 (set by .ci/run), where they fail: CI must never go green
by skipping the real parts.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import itertools
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pytest
from pullrekun_sandbox import mariadb as mariadb_mod
from pullrekun_sandbox import sshd as sshd_mod
from pullrekun_sandbox.sandbox import Sandbox, SSHSettings

from pullrekun import config as config_mod
from pullrekun.adapters.playbook.warm import warm_playbooks
from pullrekun.adapters.state.store import Store
from pullrekun.app.readmodel import snapshot
from pullrekun.app.reconcile import reconcile
from pullrekun.app.results import PassResult
from pullrekun.cli import main as cli_main
from tests.paths import REPO

#: pytest-xdist's worker number (0 without xdist): each worker gets loopback addresses of its own.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
#: First host number of the local sandboxes (127.0.0.N): apart per worker.
LOCAL_FIRST_HOST = 20 + 10 * WORKER


def _free_ssh_net() -> str:
    """A /24 of loopback whose .2-.7 have port 22 free (another test run may hold 127.0.0.x)."""
    for third in range(10 * WORKER, 10 * WORKER + 50):
        net = f"127.0.{third}"
        try:
            for n in range(2, 8):
                with socket.socket() as s:
                    s.bind((f"{net}.{n}", 22))
        except OSError:
            continue
        return net
    raise RuntimeError("no loopback /24 with port 22 free")


_db_names = itertools.count(1)


def need(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("PULLREKUN_REQUIRE_WORLD") == "1":
        pytest.fail(f"test world incomplete: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module", autouse=True)
def _warm_ansible_playbook() -> Iterator[None]:
    """Passes run in a test's process fork a warm ansible-playbook, as `serve`'s do: the module's
    first run teaches the warm start its settings (a world with other settings starts cold)."""
    with warm_playbooks():
        yield


@pytest.fixture
def warm_per_test() -> Iterator[None]:
    """A warm start of the test's own, for files whose tests each make a world (Ansible settings
    of their own) and run several passes in it: ``pytestmark = pytest.mark.usefixtures(...)``."""
    with warm_playbooks():
        yield


@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_mod.SshdHosts]:
    need(sshd_mod.available())
    net = _free_ssh_net()
    hosts = sshd_mod.SshdHosts(tmp_path_factory.mktemp("sshd"), [f"{net}.{n}" for n in range(2, 8)]).start()
    # The hosts share one filesystem and one user: two bootstraps at once would race to create
    # that user's ~/.ssh (each real host has its own; Ansible's makedirs is not atomic).
    Path(pwd.getpwnam(hosts.user).pw_dir, ".ssh").mkdir(mode=0o700, exist_ok=True)
    yield hosts
    hosts.stop()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mariadb_mod.MariaDB]:
    need(mariadb_mod.available())
    server = mariadb_mod.MariaDB(tmp_path_factory.mktemp("mariadb")).start()
    yield server
    server.stop()


@pytest.fixture
def local_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The sandbox as `pullrekun sandbox` runs it: local connection, SQLite state."""
    sb = Sandbox(root=tmp_path / "world", hosts=3, first_host=LOCAL_FIRST_HOST).start()
    yield sb
    sb.stop()


@pytest.fixture
def fleet_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """Two hand-tagged instances, room for two launched ones (max_size 4)."""
    sb = Sandbox(root=tmp_path / "world", hosts=2, first_host=LOCAL_FIRST_HOST, launch_hosts=2).start()
    yield sb
    sb.stop()


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pullrekun's wheel, built from this checkout as a user would (pip wheel, build isolation).

    Under xdist the workers share one build (the run's temporary directory, under a lock)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    else:
        shared = tmp_path_factory.mktemp("wheel")
    dist = shared / "pullrekun-dist"
    with open(shared / "pullrekun-dist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not list(dist.glob("pullrekun-[0-9]*.whl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)],
                check=True,
                timeout=300,
            )
    (built,) = dist.glob("pullrekun-[0-9]*.whl")
    return built


@pytest.fixture(scope="session")
def built_sandbox_wheel(built_wheel: Path) -> Path:
    """pullrekun-sandbox's wheel (sandbox/), built beside the product's."""
    dist = built_wheel.parent
    with open(dist.parent / "pullrekun-dist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not list(dist.glob("pullrekun_sandbox-*.whl")):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--no-deps",
                    "-w",
                    str(dist),
                    str(REPO / "sandbox"),
                ],
                check=True,
                timeout=300,
            )
    (built,) = dist.glob("pullrekun_sandbox-*.whl")
    return built


WHEELHOUSE = Path("/var/tmp/pullrekun-wheelhouse")

#: Every test world's runs share one keep of module payloads' bytecode and import scans (kept
#: by content): a new world's first runs compile and parse nothing the suite did before.
Sandbox.shared_payloads = Path(f"/var/tmp/pullrekun-payloads-{os.getuid()}")


@pytest.fixture(scope="session")
def wheelhouse(built_wheel: Path) -> Path:
    """pullrekun's dependencies as wheel files in a directory every user may read, for the tests
    whose controller role installs pullrekun as its own user (`--no-index --find-links`): that
    user's pip has no cache, and from the index the install took 20 to 60 s, from here 6 s.
    Shared by the run's workers and kept between runs, like pip's own cache."""
    WHEELHOUSE.mkdir(mode=0o755, exist_ok=True)
    with open(WHEELHOUSE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = WHEELHOUSE / f".{built_wheel.name}.done"
        if not done.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                 "-d", str(WHEELHOUSE), str(built_wheel)],
                check=True,
                timeout=600,
            )  # fmt: skip
            for path in WHEELHOUSE.iterdir():
                path.chmod(0o644)
            WHEELHOUSE.chmod(0o755)
            done.touch()
    return WHEELHOUSE


def ssh_world(sshd_hosts: sshd_mod.SshdHosts, root: Path, **kw: Any) -> Sandbox:
    """A Sandbox whose hosts are the loopback sshd hosts, reached over SSH (not started yet)."""
    return Sandbox(
        root=root,
        connection="ssh",
        net=sshd_hosts.net,
        ssh=SSHSettings(user=sshd_hosts.user, private_key=str(sshd_hosts.private_key)),
        **kw,
    )


@pytest.fixture
def ssh_sandbox(
    tmp_path: Path, sshd_hosts: sshd_mod.SshdHosts, mariadb: mariadb_mod.MariaDB
) -> Iterator[Sandbox]:
    """The full world: moto, GitHub simulator, sshd hosts, MariaDB as the state DB."""
    url = mariadb.create_database(f"pullrekun_{next(_db_names)}")
    sb = ssh_world(sshd_hosts, tmp_path / "world", hosts=3, state_url=url).start()
    yield sb
    sb.stop()


@pytest.fixture
def sandbox_store(local_sandbox: Sandbox) -> Iterator[Store]:
    """The local sandbox's state DB, open for the test to read and write requests."""
    s = Store.open(local_sandbox.state_db_url)
    yield s
    s.close()


def database_section(mariadb: mariadb_mod.MariaDB, **settings: Any) -> dict[str, Any]:
    """A ``[database]`` section on the test MariaDB, as its root over the socket, plus ``settings``."""
    return {
        "host": "127.0.0.1",
        "port": mariadb.port,
        "unix_socket": str(mariadb.socket),
        "admin_user": "root",
        **settings,
    }


def separated_world(
    sshd_hosts: sshd_mod.SshdHosts,
    root: Path,
    mariadb: mariadb_mod.MariaDB,
    run_user: str,
    deploy_base: Path,
    database: dict[str, Any],
) -> Sandbox:
    """One sshd host whose PR code runs as ``run_user`` (deploy roots under ``deploy_base``, which
    that user can reach), with per-environment databases on ``mariadb`` as root (not started)."""
    n = next(_db_names)
    return ssh_world(
        sshd_hosts,
        root,
        hosts=1,
        state_url=mariadb.create_database(f"pullrekun_{n}"),
        extra_config={
            "app": {
                "run_user": run_user,
                "deploy_root": str(deploy_base / "{host}" / "app"),
                # Debian's python: the run user cannot enter root's home, where the venv's lives.
                "command": "/usr/bin/python3 app.py",
            },
            "database": database_section(mariadb, **database),
        },
    )


def run_pass(sb: Sandbox) -> PassResult:
    """One `pullrekun reconcile` pass in this process (no interpreter start-up per pass)."""
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        return reconcile(cfg, store)
    finally:
        store.close()


STATUS_SCHEMA = json.loads((REPO / "pullrekun" / "app" / "status.schema.json").read_text())


def valid_status(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` after checking it against the published schema of `pullrekun status --json`."""
    validator = jsonschema.Draft202012Validator(STATUS_SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == [], errors
    return data


def status_of(sb: Sandbox) -> dict[str, Any]:
    """What `pullrekun status --json` prints, read in this process (and checked against its schema)."""
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        return valid_status(snapshot(cfg, store).to_json())
    finally:
        store.close()


def run_cli(
    sb: Sandbox,
    *args: str,
    timeout: float = 300,
    env: Mapping[str, str | None] | None = None,
    child: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`pullrekun --config <sandbox config> ARGS`: its exit code, stdout and stderr (its log lines
    included, formatted as the command formats them). ``env`` sets (None: removes) environment
    variables for the command; ``child`` runs it in a process of its own (what a process reads
    once, such as AWS credentials for its EC2 client, is read afresh).

    In this process (`pullrekun.cli.main`, which restores what it changes: the umask, signal
    handlers, the log filters), so a command costs no interpreter start-up and a `reconcile`
    forks the warm ansible-playbook. `serve` runs in a child process, within ``timeout``.
    The `python -m pullrekun` entry point itself is run by the tests that start real processes
    (the crash rounds, `pullrekun sandbox`, the README's commands) and with ``child``.
    """
    argv = ["--config", str(sb.config_path), *args]
    with mock.patch.dict(os.environ):  # as it was, whatever the command or ``env`` changed
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if child or "serve" in args:
            return subprocess.run(
                [sys.executable, "-m", "pullrekun", *argv],
                text=True,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        return _cli_in_process(argv)


def _cli_in_process(argv: list[str]) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers = root.handlers[:]
    loggers = [root, *(x for x in logging.root.manager.loggerDict.values() if isinstance(x, logging.Logger))]
    levels = [(logger, logger.level) for logger in loggers]  # the command quiets some libraries'
    root.handlers = []  # as in a new process: the command's own handler, on its stderr
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli_main(argv)
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        root.handlers = handlers
        for logger, level in levels:
            logger.setLevel(level)
    return subprocess.CompletedProcess(["pullrekun", *argv], code, out.getvalue(), err.getvalue())


def run_molecule(scenario: str, inventory: Path, tmp_path: Path) -> str:
    """`molecule test -s SCENARIO` with the inventory the test wrote; its log, once every step passed."""
    env = {
        **os.environ,
        "MOLECULE_PULLREKUN_INVENTORY": str(inventory),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "MOLECULE_NO_LOG": "false",
        "NO_COLOR": "1",
    }
    out = subprocess.run(
        ["molecule", "test", "-s", scenario],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    for step in ("converge", "idempotence", "verify"):
        assert f"[{scenario} > {step}] Executed: Successful" in log, f"molecule step {step} did not pass"
    return log


def end_ssh_masters(control_dir: Path) -> int:
    """End, by PID, the SSH masters (ControlPersist) whose sockets are in ``control_dir``; returns
    how many. A master names itself by its control socket: "ssh: <control dir>/<hash> [mux]"."""
    ended = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if title.startswith(f"ssh: {control_dir}/") and title.endswith("[mux]"):
                os.kill(int(entry.name), signal.SIGTERM)
                ended += 1
    return ended


@contextlib.contextmanager
def ansible_ssh(known_hosts: str) -> Iterator[dict[str, str]]:
    """Environment for a test's own `ansible-playbook` runs over SSH: Ansible's default SSH
    arguments kept (ControlPersist: one connection per host, not one per step), ``known_hosts``
    the host key policy (accept-new), the masters' sockets in a short directory of their own, and
    the masters ended afterwards."""
    control = Path(tempfile.mkdtemp(prefix="prk-cp-"))
    try:
        policy = f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known_hosts}"
        yield {"ANSIBLE_SSH_COMMON_ARGS": policy, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control)}
    finally:
        end_ssh_masters(control)
        shutil.rmtree(control, ignore_errors=True)


@pytest.fixture
def ansible_ssh_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """:func:`ansible_ssh` for one test, its known_hosts in the test's tmp_path."""
    with ansible_ssh(str(tmp_path / "known_hosts")) as env:
        yield env


@contextlib.contextmanager
def controller_account(user: str) -> Iterator[Path]:
    """A controller home outside pytest's private tmp (mode 0700, which the controller user could
    not enter), one per user so a rerun does not move the user's home. Afterwards the processes
    the test's passes left running as that user (SSH ControlPersist masters) are ended by PID,
    and the home and the user go."""
    home = Path("/var/tmp") / f"pullrekun-controller-{user}"
    shutil.rmtree(home, ignore_errors=True)
    try:
        yield home
    finally:
        pids = subprocess.run(
            ["pgrep", "-u", user], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
        shutil.rmtree(home, ignore_errors=True)
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            subprocess.run(["userdel", user], check=False, capture_output=True)


#: Seconds each test file took in a whole run (3 workers), written by scripts/test-durations.py
#: from a run's JUnit XML. xdist hands files to workers in collection order (--dist loadfile with
#: --no-loadscope-reorder: by default it reorders files by their number of tests), so the long
#: ones start first and the short ones fill in at the end, instead of one worker being left with
#: a long file while the others idle.
DURATIONS: dict[str, float] = json.loads((Path(__file__).parent / "durations.json").read_text())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> float:
        path = item.nodeid.split("::", 1)[0].removeprefix("tests/")
        return -DURATIONS.get(path, 0.0)

    items.sort(key=rank)  # stable: each file's tests keep their order
