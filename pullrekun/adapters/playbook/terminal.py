"""ansible-runner's terminal without pexpect's fixed sleeps, and its stop that lets the guard end
the run.

ansible-runner runs the playbook's guard on a pseudo-terminal with ``pexpect.spawn`` and answers
its secret prompts there. pexpect sleeps 50 ms before each answer (for programs that turn echo
off only after their prompt: the terminal is made without echo, and the guard turns it off
before it asks) and 100 ms when closing the terminal (to let the child's exit be seen: ansible-
runner closes only once the child is gone). Those were 0.2 s of every pass with two secrets.

When a run is canceled or times out, ansible-runner sends SIGKILL to the guard's process group.
Ansible's workers lead sessions of their own, so a worker (and the task it runs) would outlive
its run, orphaned, with no guard left to end it. Instead the guard is sent SIGTERM and given the
time it needs to end the whole run (:func:`pullrekun.adapters.playbook.procs.end_run`); the
group's SIGKILL follows as before, for a guard that does not answer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import types
from typing import Any

import pexpect

from pullrekun.adapters.playbook.guard import GRACE_SECONDS
from pullrekun.adapters.playbook.procs import group_of

#: How long after the guard's grace it may take to exit before ansible-runner's SIGKILL.
_GUARD_SLACK = 2.0


class QuickSpawn(pexpect.spawn):  # type: ignore[misc]  # pexpect has no types
    """``pexpect.spawn`` with no sleep before an answer, nor on closing once the child is gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delaybeforesend = None

    def close(self, force: bool = True) -> None:
        if not self.ptyproc.isalive():
            self.ptyproc.delayafterclose = 0
        super().close(force=force)


def stop_guard(pid: int, grace: float = GRACE_SECONDS + _GUARD_SLACK) -> None:
    """SIGTERM to a run's guard, and wait up to ``grace`` s for it to end its run and exit."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_of(pid) is not None and time.monotonic() < deadline:  # a zombie has exited
        time.sleep(0.01)


def install() -> None:
    """Make ansible-runner (and only it) spawn with :class:`QuickSpawn` and stop through the guard."""
    import ansible_runner.runner as runner

    if getattr(runner.pexpect, "spawn", None) is not QuickSpawn:
        shim = types.SimpleNamespace(**vars(pexpect))
        shim.spawn = QuickSpawn
        runner.pexpect = shim
    cls = runner.Runner
    if not getattr(cls.handle_termination, "pullrekun_guarded", False):
        kill_group = cls.handle_termination

        def handle_termination(pid: int, pidfile: str | None = None) -> None:
            stop_guard(pid)
            kill_group(pid, pidfile)

        handle_termination.pullrekun_guarded = True  # type: ignore[attr-defined]
        cls.handle_termination = staticmethod(handle_termination)
