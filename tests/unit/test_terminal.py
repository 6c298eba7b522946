"""ansible-runner's terminal: no fixed sleeps, only for ansible-runner, a live child still given time."""

from __future__ import annotations

import sys

import ansible_runner.runner
import pexpect

from pullrekun.adapters.playbook import terminal


def test_only_ansible_runner_spawns_the_quick_terminal() -> None:
    terminal.install()
    terminal.install()  # twice is once
    assert ansible_runner.runner.pexpect.spawn is terminal.QuickSpawn
    assert ansible_runner.runner.pexpect.EOF is pexpect.EOF
    assert pexpect.spawn is not terminal.QuickSpawn, "pexpect itself is left as it is"


def test_an_answer_is_sent_at_once_and_a_finished_child_closed_at_once() -> None:
    child = terminal.QuickSpawn(
        sys.executable, ["-c", "print('ok', input('say:'))"], encoding="utf-8", echo=False
    )
    assert child.delaybeforesend is None
    child.expect("say:")
    child.sendline("hello")
    child.expect(pexpect.EOF)
    child.wait()
    child.close()
    assert "ok hello" in (child.before or "")
    assert child.ptyproc.delayafterclose == 0
    assert child.exitstatus == 0


def test_a_child_still_running_gets_the_usual_time_to_end() -> None:
    child = terminal.QuickSpawn(sys.executable, ["-c", "import time; time.sleep(30)"], echo=False)
    child.close(force=True)
    assert child.ptyproc.delayafterclose == 0.1
    assert not child.isalive()
