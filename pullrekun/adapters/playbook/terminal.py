"""ansible-runner's terminal without pexpect's fixed sleeps.

ansible-runner runs the playbook's guard on a pseudo-terminal with ``pexpect.spawn`` and answers
its secret prompts there. pexpect sleeps 50 ms before each answer (for programs that turn echo
off only after their prompt: the terminal is made without echo, and the guard turns it off
before it asks) and 100 ms when closing the terminal (to let the child's exit be seen: ansible-
runner closes only once the child is gone). Those were 0.2 s of every pass with two secrets.
"""

from __future__ import annotations

import types
from typing import Any

import pexpect


class QuickSpawn(pexpect.spawn):  # type: ignore[misc]  # pexpect has no types
    """``pexpect.spawn`` with no sleep before an answer, nor on closing once the child is gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delaybeforesend = None

    def close(self, force: bool = True) -> None:
        if not self.ptyproc.isalive():
            self.ptyproc.delayafterclose = 0
        super().close(force=force)


def install() -> None:
    """Make ansible-runner (and only it) spawn with :class:`QuickSpawn`."""
    import ansible_runner.runner as runner

    if getattr(runner.pexpect, "spawn", None) is not QuickSpawn:
        shim = types.SimpleNamespace(**vars(pexpect))
        shim.spawn = QuickSpawn
        runner.pexpect = shim
