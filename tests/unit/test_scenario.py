"""The PR description's test scenario: found under its heading, cut, its task list a checklist,
and said on the PR comment (or that there is none)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pullrekun.core.model import Plan, PullRequest, QueuedPR
from pullrekun.core.scenario import SCENARIO_LIMIT, Step, scenario_of
from pullrekun.core.views import build_views
from tests.unit.test_render import render_comment

BODY = """Fixes the invoice total.

## Test scenario
As a support agent:
- [ ] open invoice 42 <script>alert(1)</script>
- [x] check the total is `$10` @org/everyone
* [X] print it

### Details
Still part of the scenario.

## Release risk
None.
"""


def test_the_section_under_the_heading_up_to_the_next_of_its_level() -> None:
    found = scenario_of(BODY, "## Test scenario")
    assert found is not None
    assert found.text.startswith("As a support agent:")
    assert "Still part of the scenario." in found.text
    assert "Release risk" not in found.text
    assert found.steps == (
        Step("open invoice 42 <script>alert(1)</script>", False),
        Step("check the total is `$10` @org/everyone", True),
        Step("print it", True),
    )
    assert scenario_of(BODY.replace("## Test scenario", "## TEST SCENARIO"), "## Test scenario") is not None
    assert scenario_of("no heading here", "## Test scenario") is None
    assert scenario_of(None, "## Test scenario") is None
    long = scenario_of("## Test scenario\n" + "x" * (SCENARIO_LIMIT + 50), "## Test scenario")
    assert long is not None
    assert len(long.text) == SCENARIO_LIMIT
    assert long.text.endswith("…")


def test_the_comment_says_the_scenarios_steps_or_that_there_is_none() -> None:
    pr = PullRequest(3, "a" * 40, dt.datetime(2026, 12, 1, tzinfo=dt.UTC), body=BODY)
    plan = Plan(queue=(QueuedPR(3, 1),))
    heading = "## Test scenario"
    (with_one,) = build_views([pr], plan, {}, {}, pr.created_at, scenario_heading=heading).values()
    assert "| **Test scenario** | 3 steps, 2 checked |" in render_comment(with_one)
    bare = dataclasses.replace(pr, body="")
    (without,) = build_views(
        [bare], plan, {}, {}, pr.created_at, scenario_heading="## Test scenario"
    ).values()
    comment = render_comment(without)
    assert "No test scenario in the PR description" in comment
    assert "<script>" not in comment
