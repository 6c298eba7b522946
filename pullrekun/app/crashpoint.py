"""Named points where a test kills the pass on purpose, to prove a killed pass loses nothing.

The promise "a pass killed at any point leaves a state the next pass finishes" is tested by
killing passes at every step (tests/integration/test_crash_points.py). Steps inside the
playbook run are reached through an Ansible callback in the tests; the controller's own steps
call :func:`reached` here. A pass started with ``PULLREKUN_CRASH_AT=<point>`` writes the point's
name to ``PULLREKUN_CRASH_MARKER`` (so the test knows the kill landed) and then dies by SIGKILL:
alone (``PULLREKUN_CRASH_MODE=process``) or with its whole process group (``group``, what
systemd does to a unit's cgroup). With the variable unset, as in production, nothing happens.
"""

from __future__ import annotations

import os
import signal

#: The controller's own crash points, in the order a pass reaches them.
#: "tags": the playbook run ended, the instances' tags not yet written nor the outcomes recorded.
POINTS = ("before-run", "tags", "after-run", "report")
#: A pass's launches: recorded, the launch run about to start; the run ended, its outcomes not
#: yet recorded and the pool not read again.
LAUNCH_POINTS = ("before-launch", "after-launch")
#: A release notice's send: marked sending, request about to go out; it went out, not yet marked sent.
NOTICE_POINTS = ("notice-sending", "notice-sent")


def reached(point: str) -> None:
    if os.environ.get("PULLREKUN_CRASH_AT") != point:
        return
    marker = os.environ.get("PULLREKUN_CRASH_MARKER")
    if marker:
        with open(marker, "w") as fh:
            fh.write(point + "\n")
    if os.environ.get("PULLREKUN_CRASH_MODE") == "group":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
