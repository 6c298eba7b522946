"""The test scenario a PR's description carries: the section under ``report.scenario_heading``
(``## Test scenario``), up to the next heading of its level, capped. Pure.

The person who asked for a change writes it in the PR, and checks it on the preview before the
merge. Its text comes from the PR's author: it is carried as is and escaped where it is shown.
Markdown task-list items (``- [ ] step``, ``- [x] done``) become a checklist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pullrekun.core.releases import markdown_section

#: The longest scenario kept (characters); longer ones end with "…".
SCENARIO_LIMIT = 4000
_TASK = re.compile(r"\A\s*[-*+]\s+\[(?P<mark>[ xX])\]\s+(?P<text>.+?)\s*\Z")


@dataclass(frozen=True)
class Step:
    """One task-list item of a scenario."""

    text: str
    done: bool


@dataclass(frozen=True)
class Scenario:
    text: str
    #: Its task-list items, in order (none if it is written as prose).
    steps: tuple[Step, ...] = ()


def scenario_of(body: str | None, heading: str) -> Scenario | None:
    """The scenario in a PR's ``body`` under ``heading``; None when it has none."""
    return scenario_from_text(markdown_section(body, heading, SCENARIO_LIMIT))


def scenario_from_text(text: str | None) -> Scenario | None:
    """A scenario's text (as recorded) with its checklist; None for none."""
    if not text:
        return None
    steps = tuple(
        Step(m.group("text"), m.group("mark") != " ")
        for m in (_TASK.match(line) for line in text.splitlines())
        if m is not None
    )
    return Scenario(text, steps)
