"""Ansible callback: record, per host, which deploy step failed or finished (by task tags).

Tasks that can fail carry a tag ``step_<id>`` (see ``pullrekun.core.steps``). For each failed
or unreachable task (errors the play ignores excepted) and each finished or skipped tagged task, one JSON
line goes to the file named by PULLREKUN_STEPS_FILE: host, event, the task's step tags and its
name. pullrekun reads the file after the run; the file is the run's, in its private directory.
Loaded by pullrekun's runner through ANSIBLE_CALLBACK_PLUGINS; does nothing without the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase

# ansible-playbook runs with pullrekun's Python: the tag prefix comes from the one definition.
from pullrekun.core.steps import TAG_PREFIX

DOCUMENTATION = """
name: pullrekun_steps
type: aggregate
short_description: record the deploy step of each failed or finished task, per host
description: See the module docstring.
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pullrekun_steps"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get("PULLREKUN_STEPS_FILE", "")

    def _write(self, result: Any, event: str) -> None:
        if not self._path:
            return
        task = result._task
        line = {
            "host": result._host.get_name(),
            "event": event,
            "steps": [t for t in (task.tags or []) if str(t).startswith(TAG_PREFIX)],
            "task": task.get_name(),
        }
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not ignore_errors:
            self._write(result, "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        if not result._task.ignore_unreachable:
            self._write(result, "unreachable")

    def v2_runner_on_ok(self, result: Any) -> None:
        if any(str(t).startswith(TAG_PREFIX) for t in (result._task.tags or [])):
            self._write(result, "ok")

    def v2_runner_on_skipped(self, result: Any) -> None:
        # The last check of a deploy is skipped when it passes: how a host shows it got there.
        if any(str(t).startswith(TAG_PREFIX) for t in (result._task.tags or [])):
            self._write(result, "skipped")
