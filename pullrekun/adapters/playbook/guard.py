"""No playbook run outlives its pass.

ansible-runner starts ansible-playbook in a session of its own (a pty) and ignores SIGHUP, so
a pass killed on its own (``kill -9`` from a shell, cron or the OOM killer) would leave the
run going on the staging hosts while the next pass takes the lock. Two guards close that:

- ``python -m pullrekun.adapters.playbook.guard RECORD PARENT -- COMMAND...`` is what
  ansible-runner starts (COMMAND is ansible-playbook, started as
  :mod:`pullrekun.adapters.playbook.playbook_cli`). It asks the kernel for a signal when its
  parent (the pass) dies (``PR_SET_PDEATHSIG``), records its pid and start time in the run
  directory, runs ansible-playbook as its child, and when the pass dies ends the whole session:
  the playbook, its forks and their ssh clients.
- The playbook's secrets (AWS keys, database passwords) never pass through a file or argv: the
  guard asks for each on its terminal (``pullrekun-secret NAME:``), ansible-runner answers as it
  answers SSH password prompts, and the guard puts them in ansible-playbook's environment.
- The next pass, before anything else, looks for records of runs whose guard did not get to
  clean up (:func:`end_orphaned_runs`) and ends whatever is left of them.

Only the standard library: this module is imported by a process started once per run.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pullrekun.adapters.playbook.procs import group_members, group_of

if TYPE_CHECKING:
    from pullrekun.adapters.playbook.warm import WarmRun

#: The file a guard leaves in its run directory while it runs.
RECORD_NAME = "playbook.pid"
#: How ansible-playbook was started: "warm" (a fork of `serve`'s warm start) or "cold".
START_NAME = "playbook.start"
#: The guard's environment variable naming a warm start's socket (never passed to the run).
SOCKET_ENV = "PULLREKUN_WARM_SOCKET"
#: The module the guard's command runs for ansible-playbook.
PLAYBOOK_CLI = "pullrekun.adapters.playbook.playbook_cli"
#: The names of the secrets the guard asks for (comma-separated; the values never are in the environment).
SECRET_NAMES_ENV = "PULLREKUN_SECRET_NAMES"  # noqa: S105 - a variable's name
SECRET_PROMPT = "pullrekun-secret {name}:"  # noqa: S105 - a prompt
_PR_SET_PDEATHSIG = 1
#: How long the playbook gets to stop on SIGTERM before the session is killed.
GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Orphan:
    """A run left by a dead pass, and the processes of it that were still running."""

    run_dir: Path
    pids: tuple[int, ...]


def _read_record(path: Path) -> list[tuple[int, int]] | None:
    """The (process group, start time) pairs a record names: the guard's, then a warm run's."""
    try:
        lines = path.read_text().splitlines()
        groups = []
        for line in lines:
            pid_text, start_text = line.split()
            groups.append((int(pid_text), int(start_text)))
        return groups or None
    except (OSError, ValueError):
        return None


def _write_record(path: Path, groups: Sequence[tuple[int, int]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{pgid} {start}\n" for pgid, start in groups))
    tmp.replace(path)


def end_orphaned_runs(run_dirs: Iterable[Path], grace: float = GRACE_SECONDS) -> list[Orphan]:
    """End what is left of runs whose guard record is still there; returns what was found.

    A guard removes its record when it exits normally, so a record means its pass died
    without the guard finishing (or the guard itself was killed). Whatever still runs in that
    run's process group gets SIGTERM, then SIGKILL after ``grace`` seconds.
    """
    found = []
    for run_dir in run_dirs:
        record = run_dir / RECORD_NAME
        parsed = _read_record(record)
        if parsed is None:
            continue
        alive = [pid for pgid, since in parsed for pid in group_members(pgid, since)]
        for pid in alive:
            _signal(pid, signal.SIGTERM)
        left = alive
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if group_of(p) is not None]
        for pid in left:
            _signal(pid, signal.SIGKILL)
        record.unlink(missing_ok=True)
        if alive:
            found.append(Orphan(run_dir, tuple(alive)))
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _signal_group(group: tuple[int, int] | None, sig: int) -> None:
    if group is not None:
        for pid in group_members(*group):
            _signal(pid, sig)


def _end_session(running: Callable[[], bool], grace: float, warm: tuple[int, int] | None = None) -> None:
    """SIGTERM to everything in our process group and a warm run's, then SIGKILL (ourselves last)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _signal_group(warm, signal.SIGTERM)
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(warm, signal.SIGKILL)
    os.killpg(0, signal.SIGKILL)


def _read_line(fd: int) -> bytes:
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            raise EOFError("the terminal closed before the answer")
        line += chunk
    return bytes(line).strip()


def receive_secrets(names: Sequence[str], fd: int = 0) -> dict[str, str]:
    """Ask for each secret on the terminal; the answers are base64 (see the runner)."""
    if not names:
        return {}
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved is not None:
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~(termios.ECHO | termios.ICANON)  # no echo, no line-length limit
        quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    values = {}
    try:
        for name in names:
            sys.stdout.write(SECRET_PROMPT.format(name=name))
            sys.stdout.flush()
            values[name] = base64.b64decode(_read_line(fd), validate=True).decode()
            sys.stdout.write("\n")
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
    return values


def main(argv: Sequence[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write(
            "usage: python -m pullrekun.adapters.playbook.guard RECORD PARENT_PID -- COMMAND...\n"
        )
        return 2
    record, parent, command = Path(argv[0]), int(argv[1]), list(argv[3:])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        sys.stderr.write(f"playbook guard: prctl failed (errno {ctypes.get_errno()})\n")
        return 2
    if os.getppid() != parent:  # the pass died before we could ask to be told
        return 2
    if os.getpgrp() != os.getpid():  # under ansible-runner we lead a pty session already
        os.setpgid(0, 0)
    own = group_of(os.getpid())
    assert own is not None
    guard = (os.getpid(), own[1])
    _write_record(record, [guard])
    names = [n for n in os.environ.pop(SECRET_NAMES_ENV, "").split(",") if n]
    warm_socket = os.environ.pop(SOCKET_ENV, "")
    try:
        secrets = receive_secrets(names)
    except (EOFError, OSError, ValueError) as exc:
        sys.stderr.write(f"playbook guard: could not receive the run's secrets: {exc}\n")
        record.unlink(missing_ok=True)
        return 2
    dying = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        dying["signal"] = signum

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    warm = _ask_warm(warm_socket, command, secrets)
    if warm is not None:
        rc = _run_warm(warm, record, guard, dying)
    else:
        record.with_name(START_NAME).write_text("cold\n")
        child = subprocess.Popen(command, env={**os.environ, **secrets})
        while True:
            try:
                rc = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if dying["signal"]:
                    _end_session(lambda: child.poll() is None, GRACE_SECONDS)
    record.unlink(missing_ok=True)
    return rc if rc >= 0 else 128 - rc


def _ask_warm(socket_path: str, command: Sequence[str], secrets: dict[str, str]) -> WarmRun | None:
    """A fork of `serve`'s warm ansible-playbook for this run (None: start it as usual)."""
    if not socket_path or list(command[1:3]) != ["-m", PLAYBOOK_CLI]:
        return None
    from pullrekun.adapters.playbook.warm import ask

    return ask(socket_path, command[3:], os.getcwd(), dict(os.environ), secrets)


def _run_warm(warm: WarmRun, record: Path, guard: tuple[int, int], dying: dict[str, int]) -> int:
    """The warm run, recorded with the guard before it may start, ended with the guard's session."""
    group = (warm.pgid, warm.start)
    _write_record(record, [guard, group])
    record.with_name(START_NAME).write_text("warm\n")

    def tick() -> None:
        if dying["signal"]:
            _end_session(lambda: bool(group_members(*group)), GRACE_SECONDS, group)

    try:
        warm.go()
    except OSError:
        tick()
        return 1
    return warm.wait(0.2, tick)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
