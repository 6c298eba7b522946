"""Ansible callback for the crash-point tests: kill the pass when a named task has run on a host.

Enabled by the tests through ANSIBLE_CALLBACK_PLUGINS / ANSIBLE_CALLBACKS_ENABLED in the pass's
environment. PULLREKUN_CRASH_AT names the task; PULLREKUN_CRASH_MODE is "process" (SIGKILL to
the pullrekun process alone, as `kill -9 <pid>` would) or "group" (SIGKILL to the pass's whole
process tree, as systemd ends a unit). The task's name goes to PULLREKUN_CRASH_MARKER first,
so the test knows the kill landed where it asked.
"""

from __future__ import annotations

import os
import signal

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: crash_at
type: aggregate
short_description: kill the pullrekun pass once a named task has run (tests only)
description: See the module docstring.
"""


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(") ", 1)[1].split()[1])


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "crash_at"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._point = os.environ.get("PULLREKUN_CRASH_AT", "")
        self._fired = False

    def _maybe_crash(self, task_name: str) -> None:
        if self._fired or not self._point or task_name != self._point:
            return
        self._fired = True
        marker = os.environ.get("PULLREKUN_CRASH_MARKER")
        if marker:
            with open(marker, "w") as fh:
                fh.write(task_name + "\n")
        guard = os.getppid()  # ansible-playbook runs under pullrekun.adapters.playbook.guard
        controller = _ppid(guard)
        if os.environ.get("PULLREKUN_CRASH_MODE") == "group":
            os.killpg(os.getpgid(controller), signal.SIGKILL)
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os.kill(controller, signal.SIGKILL)

    def v2_runner_on_ok(self, result) -> None:  # type: ignore[no-untyped-def]
        self._maybe_crash(result._task.name)
