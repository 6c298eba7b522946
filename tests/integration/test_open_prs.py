"""Every open PR on the dashboard, with its test scenario.

A tester looking for their PR finds it: with its environment, or with why it has none and what
would change that (the sandbox's draft PR: "mark it ready for review"). The scenario from the PR
description is shown as a checklist, its author's markup escaped; `status --json` carries it.
Checked in Chromium.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.config import ServeConfig
from pullrekun.web.auth import hash_password
from pullrekun.web.serve import Service
from tests.conftest import LOCAL_FIRST_HOST, run_pass, valid_status
from tests.integration.serving import chromium_sign_in
from tests.integration.test_dashboard_browser import browser as browser
from tests.integration.test_dashboard_http import Browser

VIEWER = ("vic", "viewer password 2")
SCENARIO = """Fixes the totals.

## Test scenario
- [ ] open invoice 42 <img src=x onerror=alert(1)>
- [x] the total reads `$10`

## Release risk
none
"""


@dataclass
class World:
    sb: Sandbox
    service: Service
    ready: int
    draft: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    sb = Sandbox(
        root=tmp_path_factory.mktemp("openprs") / "world", hosts=1, first_host=LOCAL_FIRST_HOST
    ).start()
    ready, _ = sb.open_pr("scen", "with a scenario", body=SCENARIO, author="sam")
    draft, _ = sb.open_pr("wip", "work in progress", draft=True, author="dora")
    assert run_pass(sb).ok
    cfg = dataclasses.replace(
        config_mod.load(sb.config_path),
        serve=ServeConfig(
            viewers={VIEWER[0]: hash_password(VIEWER[1])}, secure_cookies=False, time_zone="Asia/Tokyo"
        ),
    )
    store = Store.open(cfg.state_url)
    service = Service(cfg, store, "hook secret", bind="127.0.0.1", port=0, run_pass=lambda: "clean")
    service.start_background()
    try:
        yield World(sb, service, ready, draft)
    finally:
        service.shutdown()
        store.close()
        sb.stop()


def test_every_open_pr_is_listed_with_why_it_has_no_environment(world: World) -> None:
    b = Browser(world.service.url)
    b.sign_in(*VIEWER)
    snap = valid_status(json.loads(b.request("/api/v1/status")[2]))
    listed = {p["number"]: p for p in snap["pull_requests"]}
    assert set(listed) == {world.ready, world.draft}
    assert listed[world.ready]["phase"] == "ready"
    assert listed[world.draft]["phase"] == "skipped"
    assert "mark it ready for review" in listed[world.draft]["detail"]
    steps = listed[world.ready]["scenario"]["steps"]
    assert [(s["text"], s["done"]) for s in steps] == [
        ("open invoice 42 <img src=x onerror=alert(1)>", False),
        ("the total reads `$10`", True),
    ]
    page = b.request("/")[2]
    assert f'<tr data-open-pr="{world.draft}">' in page
    assert f'<tr data-open-pr="{world.ready}">' not in page, "an environment is listed once"
    assert "<img src=x" not in page, "the author's markup is escaped"
    assert " JST (" in page, "times in the team's zone (serve.time_zone)"
    assert "min ago)" in page or "just now)" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    (comment,) = world.sb.github.comments_on(world.ready)
    assert "| **Test scenario** | 2 steps, 1 checked |" in comment["body"]


def test_a_tester_finds_the_draft_and_the_scenario_in_chromium(browser: Any, world: World) -> None:
    page = chromium_sign_in(browser, world.service.url, VIEWER)
    draft = page.locator(f'tr[data-open-pr="{world.draft}"]')
    assert "mark it ready for review" in draft.locator(".detail").inner_text()
    row = page.locator(f'tr[data-pr="{world.ready}"]')
    row.locator("details.scenario summary").click()
    assert row.locator("details.scenario summary").inner_text() == "Test scenario (1/2 checked)"
    boxes = row.locator("ul.checklist input[type=checkbox]")
    assert [boxes.nth(i).is_checked() for i in range(boxes.count())] == [False, True]
    assert "open invoice 42 <img src=x onerror=alert(1)>" in row.locator("ul.checklist").inner_text()
    assert page.evaluate("document.querySelectorAll('img').length") == 0, "no markup from the PR"
