"""No playbook run outlives its pass.

ansible-runner starts ansible-playbook in a session of its own (a pty) and ignores SIGHUP, so
a pass killed on its own (``kill -9`` from a shell, cron or the OOM killer) would leave the
run going on the staging hosts while the next pass takes the lock. Two guards close that:

- ``python -m pullrekun.adapters.playbook.guard RECORD PARENT -- COMMAND...`` is what
  ansible-runner starts (COMMAND is ansible-playbook, started as
  :mod:`pullrekun.adapters.playbook.playbook_cli`). It asks the kernel for a signal when its
  parent (the pass) dies (``PR_SET_PDEATHSIG``), records its pid and start time in the run
  directory, runs ansible-playbook as its child, and when the pass dies (or ansible-runner stops
  the run: a cancel, a timeout) ends the whole run: the playbook, its workers (each leads a
  session of its own) and what they started, ssh clients and module processes.
- The playbook's secrets (AWS keys, database passwords) never pass through a file or argv: the
  guard asks for each on its terminal (``pullrekun-secret NAME:``), ansible-runner answers as it
  answers SSH password prompts, and the guard puts them in ansible-playbook's environment.
- The next pass, before anything else, looks for records of runs whose guard did not get to
  clean up (:func:`pullrekun.adapters.playbook.orphans.end_orphaned_runs`) and ends whatever is
  left of them.

Only the standard library, and only what a run needs (each import is paid by every run: no
dataclasses, pathlib, base64 or subprocess unless the run starts cold).
"""

from __future__ import annotations

import binascii
import contextlib
import ctypes
import os
import signal
import sys
import termios
from collections.abc import Sequence
from typing import NoReturn

from pullrekun.adapters.playbook.handoff import WarmRun, ask
from pullrekun.adapters.playbook.procs import end_run, group_of, run_processes, write_record

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
#: How soon the guard acts on a signal (the playbook's exit is seen at once).
POLL_SECONDS = 0.05


def _end_run(record: str, groups: Sequence[tuple[int, int]], signum: int) -> NoReturn:
    """End every process of the run but this one (SIGTERM, SIGKILL after the grace), then exit.

    The run is the recorded groups and their descendants: Ansible's workers lead sessions of
    their own, out of reach of a signal to the group. The record goes only once none is left.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    me = os.getpid()
    end_run(groups, GRACE_SECONDS, spare=me)
    if not [p for p in run_processes(groups) if p[0] != me]:
        _remove(record)
    os._exit(128 + signum)


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
            values[name] = binascii.a2b_base64(_read_line(fd), strict_mode=True).decode()
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
    record, parent, command = argv[0], int(argv[1]), list(argv[3:])
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
    write_record(record, [guard])
    names = [n for n in os.environ.pop(SECRET_NAMES_ENV, "").split(",") if n]
    warm_socket = os.environ.pop(SOCKET_ENV, "")
    try:
        secrets = receive_secrets(names)
    except (EOFError, OSError, ValueError) as exc:
        sys.stderr.write(f"playbook guard: could not receive the run's secrets: {exc}\n")
        _remove(record)
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
        import subprocess  # only here: a warm run needs none of it

        _say_start(record, "cold")
        child = subprocess.Popen(command, env={**os.environ, **secrets})
        while True:
            try:
                rc = child.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if dying["signal"]:
                    _end_run(record, [guard], dying["signal"])
    _remove(record)
    return rc if rc >= 0 else 128 - rc


def _ask_warm(socket_path: str, command: Sequence[str], secrets: dict[str, str]) -> WarmRun | None:
    """A fork of `serve`'s warm ansible-playbook for this run (None: start it as usual)."""
    if not socket_path or list(command[1:3]) != ["-m", PLAYBOOK_CLI]:
        return None
    return ask(socket_path, command[3:], os.getcwd(), dict(os.environ), secrets)


def _run_warm(warm: WarmRun, record: str, guard: tuple[int, int], dying: dict[str, int]) -> int:
    """The warm run, recorded with the guard before it may start, ended with the guard's session."""
    group = (warm.pgid, warm.start)
    write_record(record, [guard, group])
    _say_start(record, "warm")

    def tick() -> None:
        if dying["signal"]:
            _end_run(record, [guard, group], dying["signal"])

    try:
        warm.go()
    except OSError:
        tick()
        return 1
    return warm.wait(POLL_SECONDS, tick)


def _say_start(record: str, how: str) -> None:
    with open(os.path.join(os.path.dirname(record), START_NAME), "w") as f:
        f.write(how + "\n")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
