"""No playbook run outlives its pass: the guard ends it when the pass dies, or the next pass does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pullrekun.adapters.playbook.guard import RECORD_NAME
from pullrekun.adapters.playbook.orphans import end_orphaned_runs
from pullrekun.adapters.playbook.procs import group_members

GUARD = "pullrekun.adapters.playbook.guard"


def _wait_for(condition: object, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1].split()[0] != "Z"


def _record(run: Path) -> tuple[int, int]:
    pgid, since = (int(x) for x in (run / RECORD_NAME).read_text().split())
    return pgid, since


def test_the_run_dies_with_its_pass_even_on_kill_9(tmp_path: Path) -> None:
    # A stand-in for the pass: starts the guard (which starts the "playbook") and waits.
    pass_code = (
        "import os, subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-m', '" + GUARD + "', sys.argv[1], str(os.getpid()),"
        " '--', 'sleep', '300'], start_new_session=True)\n"
        "import time; time.sleep(300)\n"
    )
    the_pass = subprocess.Popen([sys.executable, "-c", pass_code, str(tmp_path / RECORD_NAME)])
    _wait_for(lambda: (tmp_path / RECORD_NAME).exists(), "the guard never recorded itself")
    pgid, since = _record(tmp_path)
    _wait_for(lambda: len(group_members(pgid, since)) == 2, "the guarded command never started")
    run = group_members(pgid, since)
    os.kill(the_pass.pid, signal.SIGKILL)
    the_pass.wait()
    _wait_for(lambda: not any(_alive(p) for p in run), "the run outlived its pass")


def test_the_next_pass_ends_a_run_whose_guard_died_too(tmp_path: Path) -> None:
    guard = subprocess.Popen(
        [sys.executable, "-m", GUARD, str(tmp_path / RECORD_NAME), str(os.getpid()),
         "--", "sleep", "300"],
        start_new_session=True,
    )  # fmt: skip
    _wait_for(lambda: (tmp_path / RECORD_NAME).exists(), "the guard never recorded itself")
    pgid, since = _record(tmp_path)
    _wait_for(lambda: len(group_members(pgid, since)) == 2, "the guarded command never started")
    os.kill(guard.pid, signal.SIGKILL)  # the guard dies without ending its run
    guard.wait()
    (left,) = group_members(pgid, since)
    (orphan,) = end_orphaned_runs([tmp_path], grace=1)
    assert orphan.pids == (left,)
    assert not _alive(left)
    assert not (tmp_path / RECORD_NAME).exists()
    assert end_orphaned_runs([tmp_path]) == [], "nothing is ended twice"


def test_a_run_that_finished_leaves_no_record(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", GUARD, str(tmp_path / RECORD_NAME), str(os.getpid()),
         "--", "sh", "-c", "exit 3"],
        check=False,
    )  # fmt: skip
    assert out.returncode == 3, "the command's exit status passes through"
    assert not (tmp_path / RECORD_NAME).exists()
