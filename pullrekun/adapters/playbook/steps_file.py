"""What the ``pullrekun_steps`` callback (``playbooks/callback_plugins``) wrote about a run.

For each failed or unreachable task, and each tagged task finished or skipped, the callback
appends one JSON line to the run's steps file: host, event, the task's step tags, its name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pullrekun.core.steps import Step, step_of

#: The file's name in the run's private directory (the callback is told it by the environment).
STEPS_FILE = "steps.jsonl"


@dataclass(frozen=True)
class HostSteps:
    """Per host: the first step that failed, the steps whose tagged tasks finished, and those it
    went past (finished, or skipped as not needed)."""

    failed: Mapping[str, Step]
    done: Mapping[str, frozenset[Step]]
    passed: Mapping[str, frozenset[Step]]


def read_steps(path: Path) -> HostSteps:
    """The steps file at ``path`` (none: nothing recorded); a line cut short by a killed run is
    passed over."""
    failed: dict[str, Step] = {}
    done: dict[str, set[Step]] = {}
    passed: dict[str, set[Step]] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for line in lines:
        try:
            rec = json.loads(line)
            host, event, tags = str(rec["host"]), str(rec["event"]), [str(t) for t in rec["steps"]]
        except (ValueError, KeyError, TypeError):
            continue
        if event in ("ok", "skipped"):
            passed.setdefault(host, set()).add(step_of(tags))
            if event == "ok":
                done.setdefault(host, set()).add(step_of(tags))
        elif host not in failed:
            failed[host] = step_of(tags, unreachable=event == "unreachable")
    return HostSteps(
        failed,
        {h: frozenset(s) for h, s in done.items()},
        {h: frozenset(s) for h, s in passed.items()},
    )
