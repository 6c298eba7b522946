"""No playbook run outlives its pass: the guard ends it when the pass dies, or the next pass does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pullrekun.adapters.playbook.guard import RECORD_NAME
from pullrekun.adapters.playbook.orphans import end_orphaned_runs
from pullrekun.adapters.playbook.procs import end_run, group_of, read_record, run_processes, write_record

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


def left_of(marker: str) -> list[str]:
    """Live processes whose environment mentions ``marker`` (a run's temporary directory, which
    ansible-playbook, its workers and every command they start inherit): pid and command line."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid() or not _alive(int(entry.name)):
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker.encode() in environ:
            left.append(f"{entry.name}: {cmdline}")
    return left


def group_members(pgid: int, since: int) -> list[int]:
    """The run's processes: its group's and their descendants."""
    return sorted(pid for pid, _ in run_processes([(pgid, since)]))


def _record(run: Path) -> tuple[int, int]:
    (group,) = read_record(str(run / RECORD_NAME)) or []
    return group


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


def test_a_run_is_its_groups_and_every_descendant_even_one_whose_parent_died(tmp_path: Path) -> None:
    # A stand-in for ansible-playbook with a worker that left for a session of its own.
    playbook = subprocess.Popen(
        ["sh", "-c", "setsid sleep 301 & echo $!; exec sleep 300"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert playbook.stdout is not None
    worker = int(playbook.stdout.readline())
    _wait_for(lambda: _alive(worker) and os.getsid(worker) == worker, "the worker never left the group")
    group = group_of(playbook.pid)
    assert group is not None
    run = run_processes([group])
    assert sorted(pid for pid, _ in run) == sorted([playbook.pid, worker]), "a signal to the group misses one"
    os.kill(playbook.pid, signal.SIGKILL)  # the worker is nobody's descendant now
    playbook.wait()
    assert [pid for pid, _ in run_processes([group])] == []
    assert [pid for pid, _ in run_processes([group], known=run)] == [worker], "followed by what was seen"
    assert end_run([group], grace=1, known=run) == [worker]
    assert not _alive(worker)


@pytest.fixture
def other_session() -> Iterator[tuple[int, int]]:
    """A process of someone else's that leads its own session: (pid, start time)."""
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        _wait_for(lambda: group_of(other.pid) is not None, "the other process never started")
        _, start = group_of(other.pid) or (0, 0)
        yield other.pid, start
    finally:
        other.kill()
        other.wait()


def test_a_record_whose_group_number_was_given_out_again_ends_nothing(
    tmp_path: Path, other_session: tuple[int, int]
) -> None:
    # A record left long ago: its run is gone, and its group's number now leads another session.
    pid, start = other_session
    (tmp_path / RECORD_NAME).write_text(f"{pid} {start - 1}\n")
    assert end_orphaned_runs([tmp_path], grace=1) == []
    assert _alive(pid), "a process that was never the run's was ended"
    assert not (tmp_path / RECORD_NAME).exists()


def test_a_record_of_an_earlier_boot_ends_nothing(tmp_path: Path, other_session: tuple[int, int]) -> None:
    # Numbers and start times begin again at each boot: a record of the last one names no process.
    record = tmp_path / RECORD_NAME
    write_record(str(record), [other_session])
    assert read_record(str(record)) == [other_session], "this boot's record"
    record.write_text(re.sub(r"^boot .*$", "boot 00000000-earlier-boot", record.read_text(), flags=re.M))
    assert end_orphaned_runs([tmp_path], grace=1) == []
    assert _alive(other_session[0]), "a process of this boot was taken for the record's"
    assert not record.exists()
