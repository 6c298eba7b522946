"""`serve`'s warm ansible-playbook: runs are forks of a process that imported Ansible once (with
the first run's settings), they behave as cold runs do, and no crash leaves one running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pullrekun.adapters.playbook.guard import RECORD_NAME
from pullrekun.adapters.playbook.orphans import end_orphaned_runs
from pullrekun.adapters.playbook.procs import read_record
from pullrekun.adapters.playbook.runner import RunResult, RunSpec, RunStatus, run_playbook
from pullrekun.adapters.playbook.settings import ansible_env
from pullrekun.adapters.playbook.warm import WarmStart, warm_playbooks
from tests.integration.test_playbook_guard import _alive, _wait_for

#: What the run's ansible-playbook process is (a worker's command line is its parent's: it forks
#: without exec), what a secret looks like inside it, then a wait the tests can stop in.
PLAYBOOK = """\
- name: Tell how the run started
  hosts: all
  gather_facts: false
  tasks:
    - name: The command line of ansible-playbook
      ansible.builtin.debug:
        msg: "cmdline={{ lookup('ansible.builtin.file', '/proc/' ~ pid ~ '/cmdline') | replace(nul, ' ') }}"
      vars:
        pid: "{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
        nul: "\\u0000"
    - name: The secret's length
      ansible.builtin.debug:
        msg: "secret={{ lookup('ansible.builtin.env', 'WARM_TEST_SECRET') | length }}"
    - name: The file mode creation mask
      ansible.builtin.debug:
        msg: "umask={{ lookup('ansible.builtin.pipe', 'umask') }}"
    - name: Wait
      ansible.builtin.command: sleep {{ wait }}
      changed_when: false
"""
SECRET = "s3cret-value"


def _spec(tmp_path: Path, ident: str, wait: int = 0, forks: int = 5) -> RunSpec:
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True, exist_ok=True)
    (project / "playbooks" / "warm.yml").write_text(PLAYBOOK)
    here = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"here": here}}}
    root = tmp_path / "runs"
    root.mkdir(exist_ok=True)
    return RunSpec(
        project_dir=project,
        playbook="playbooks/warm.yml",
        inventory=inventory,
        extra_vars={"wait": wait},
        artifacts_root=root,
        ident=ident,
        env=ansible_env(project, tmp_path, forks, ""),
        timeout=120,
        secrets={"WARM_TEST_SECRET": SECRET},
    )


def _said(result: RunResult) -> str:
    return (Path(result.artifacts_dir) / "stdout").read_text()


@pytest.fixture
def warm() -> Iterator[WarmStart]:
    with warm_playbooks() as started:
        assert started is not None
        yield started
    assert started.process.returncode == 0, "the warm start ends with its block, on its SIGTERM"


def test_the_warm_start_ends_when_serve_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from pullrekun.adapters.playbook.warm import warm_playbooks\n"
        "with warm_playbooks() as warm:\n"
        "    print(warm.pid, flush=True)\n"
        "    time.sleep(300)\n"
    )
    serve = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert serve.stdout is not None
    warm = int(serve.stdout.readline())
    assert _alive(warm)
    serve.kill()
    serve.wait()
    _wait_for(lambda: not _alive(warm), "the warm start outlived serve")


def test_runs_are_forks_of_the_warm_start_from_the_first_on_and_run_as_cold_ones_do(
    tmp_path: Path, warm: WarmStart
) -> None:
    first = run_playbook(_spec(tmp_path, "first"))
    second = run_playbook(_spec(tmp_path, "second"))
    other = run_playbook(_spec(tmp_path, "other-settings", forks=7))
    for result in (first, second, other):
        assert result.status is RunStatus.SUCCESSFUL, (result.explanation, _said(result))
        assert result.host_ok("here")
        assert f"secret={len(SECRET)}" in _said(result), "the secret reaches the run, in memory"
        assert SECRET not in _said(result)
        assert not (Path(result.private_data_dir) / RECORD_NAME).exists()
    # The first run's settings are the ones the warm start imports Ansible with, and the run
    # waits for that import: no cold start beside it. A run with other settings starts cold.
    assert [r.started for r in (first, second, other)] == ["warm", "warm", "cold"]
    assert "pullrekun.adapters.playbook.warm" in _said(first), "forked from the warm start"
    assert "pullrekun.adapters.playbook.warm" in _said(second), "forked from the warm start"
    assert "pullrekun.adapters.playbook.playbook_cli" in _said(other)
    assert "pullrekun.adapters.playbook.warm" not in _said(other)
    # Its output is the run's, as ansible-runner sees it: the events, the recap.
    events = [json.loads(p.read_text()) for p in (Path(second.artifacts_dir) / "job_events").iterdir()]
    assert "playbook_on_stats" in {e["event"] for e in events}
    assert "PLAY RECAP" in _said(second)


def test_a_warm_run_creates_files_with_the_umask_of_the_pass_that_asked(
    tmp_path: Path, warm: WarmStart
) -> None:
    """The warm start began under another umask (`serve`'s caller, a test): a run forked for a
    pass that set 0077 (the `pullrekun` command does) creates its files as a cold run would."""
    previous = os.umask(0o077)
    try:
        runs = [run_playbook(_spec(tmp_path, name)) for name in ("first", "second")]
    finally:
        os.umask(previous)
    other = run_playbook(_spec(tmp_path, "other-umask"))
    assert [r.started for r in (*runs, other)] == ["warm", "warm", "warm"]
    for result in runs:
        assert "umask=0077" in _said(result), _said(result)
    assert f"umask={previous:04o}" in _said(other)


def _warm_run_in_background(tmp_path: Path, ident: str) -> tuple[threading.Thread, list[RunResult]]:
    """A warm run that waits in its last task; returns once it is recorded."""
    results: list[RunResult] = []
    spec = _spec(tmp_path, ident, wait=300)
    thread = threading.Thread(target=lambda: results.append(run_playbook(spec)), daemon=True)
    thread.start()
    record = tmp_path / "runs" / ident / RECORD_NAME
    _wait_for(lambda: _went_warm(record), "never went warm")
    return thread, results


def _groups(record: Path) -> list[tuple[int, int]]:
    return read_record(str(record)) or []


def _went_warm(record: Path) -> bool:
    """The guard recorded the warm run's group beside its own."""
    return len(_groups(record)) == 2


def _tree(root: int) -> list[int]:
    """``root`` and its live descendants (Ansible's workers lead sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root] if _alive(root) else []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _waiting_run(leader: int) -> list[int]:
    """The run's processes, once its last task's ``sleep`` runs."""

    def sleeping() -> bool:
        return any(_cmdline(p).startswith(b"sleep\0") for p in _tree(leader))

    _wait_for(sleeping, "the run never reached its wait", 60)
    return _tree(leader)


def test_a_warm_run_ends_when_its_guard_is_killed(tmp_path: Path, warm: WarmStart) -> None:
    thread, results = _warm_run_in_background(tmp_path, "guard-killed")
    (guard_pid, _), (leader, _) = _groups(tmp_path / "runs" / "guard-killed" / RECORD_NAME)
    run = _waiting_run(leader)
    os.kill(guard_pid, signal.SIGKILL)  # no chance to end its run: the warm start does
    _wait_for(lambda: not any(_alive(p) for p in run), "the run outlived its guard")
    thread.join(30)
    (result,) = results
    assert not result.ok


def test_a_stopped_warm_run_leaves_nothing_running(tmp_path: Path, warm: WarmStart) -> None:
    """A cancel (serve stopping, an idle timeout) ends the whole run before the pass goes on."""
    stop = threading.Event()
    results: list[RunResult] = []
    spec = _spec(tmp_path, "stopped", wait=300)
    thread = threading.Thread(target=lambda: results.append(run_playbook(spec, cancel=stop.is_set)))
    thread.start()
    record = tmp_path / "runs" / "stopped" / RECORD_NAME
    _wait_for(lambda: _went_warm(record), "never went warm")
    run = _waiting_run(_groups(record)[1][0])
    stop.set()
    thread.join(30)
    (result,) = results
    assert (result.status, result.started) == (RunStatus.CANCELED, "warm")
    assert [p for p in run if _alive(p)] == [], "a process of the stopped run goes on"


def test_a_warm_run_dies_with_its_pass_even_on_kill_9(tmp_path: Path) -> None:
    # A stand-in for `serve`: a warm start and a warm run that waits.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pullrekun.adapters.playbook.runner import run_playbook\n"
        "from pullrekun.adapters.playbook.warm import warm_playbooks\n"
        "from tests.integration.test_warm_playbooks import _spec\n"
        "tmp = Path(sys.argv[1])\n"
        "with warm_playbooks():\n"
        "    run_playbook(_spec(tmp, 'warm', wait=300))\n"
    )
    the_pass = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=Path(__file__).parents[2])
    record = tmp_path / "runs" / "warm" / RECORD_NAME
    _wait_for(lambda: _went_warm(record), "never went warm", 60)
    leader = _groups(record)[1][0]
    run = _waiting_run(leader)
    os.kill(the_pass.pid, signal.SIGKILL)
    the_pass.wait()
    _wait_for(lambda: not any(_alive(p) for p in run), "the run outlived its pass")


def test_the_next_pass_ends_a_warm_run_whose_guard_and_warm_start_died(tmp_path: Path) -> None:
    with warm_playbooks() as warm:
        assert warm is not None
        _kill_all_but_the_record(tmp_path, warm)


def _kill_all_but_the_record(tmp_path: Path, warm: WarmStart) -> None:
    thread, _results = _warm_run_in_background(tmp_path, "all-killed")
    run_dir = tmp_path / "runs" / "all-killed"
    (guard_pid, _), group = _groups(run_dir / RECORD_NAME)
    run = _waiting_run(group[0])
    os.kill(warm.pid, signal.SIGKILL)
    _wait_for(lambda: not _alive(warm.pid), "the warm start did not die")
    os.kill(guard_pid, signal.SIGKILL)
    time.sleep(0.5)  # what would have ended the run within that, had the warm start lived
    assert all(_alive(p) for p in run), "the run goes on: only its record tells"
    (orphan,) = end_orphaned_runs([run_dir], grace=1)
    assert sorted(orphan.pids) == sorted(run), "the fork and its workers, each in a session of its own"
    _wait_for(lambda: not any(_alive(p) for p in run), "the orphaned run was not ended")
    thread.join(30)


def test_a_warm_start_inside_another_gives_the_outer_one_back_when_it_ends() -> None:
    from pullrekun.adapters.playbook.warm import socket_path

    before = socket_path()  # the test file's own warm start (tests/conftest.py)
    with warm_playbooks() as outer:
        assert outer is not None
        with warm_playbooks() as inner:
            assert inner is not None
            assert socket_path() == inner.socket != outer.socket
        assert socket_path() == outer.socket, "the outer block's runs go warm again"
        assert outer.process.poll() is None
    assert socket_path() == before
