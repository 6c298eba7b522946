"""Sleep end to end: moto, loopback hosts, `pullrekun serve` with the real pass, Chromium.

An environment left idle for ``sleep.after`` is stopped (it keeps its instance) and says so on
the PR; a push wakes it; a visit of its link through ``serve`` (/e/<pr>) in a real browser wakes
it for a signed-in person (an anonymous visitor gets a sign-in button and wakes nothing), shows
the waking page, then the app; a sleeper hands its instance to a queued PR; the PR's comment
carries its running hours and price from the recorded stretches. Time passing is the state DB's
records aged (the idle clock and the stretches), so every part runs at real speed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pullrekun_sandbox.plumbing import free_port
from sqlalchemy import text

from pullrekun.config import ServeConfig
from pullrekun.web.auth import hash_password
from tests.integration.serving import ServedWorld, chromium_sign_in, served_world
from tests.integration.test_dashboard_browser import browser as browser
from tests.integration.test_dashboard_http import Browser

ADMIN, VIEWER = ("ada", "admin password 1"), ("vic", "viewer password 2")
IDLE = "idle for 8 h; a push or a visit of its link wakes it"


class World(ServedWorld):
    def idle_for(self, pr: int, hours: float) -> None:
        """The PR's last activity ``hours`` ago (and no wake since)."""
        ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=hours)
        with self.store.engine.begin() as conn:
            conn.execute(
                text("UPDATE activity SET active_at = :ago, woken_at = NULL WHERE pr_number = :pr"),
                {"ago": ago, "pr": pr},
            )

    def env(self, pr: int) -> dict[str, Any]:
        b = Browser(self.url)
        b.sign_in(*VIEWER)
        snap = json.loads(b.request("/api/v1/status")[2])
        return next(e for e in snap["environments"] if e["pr"] == pr)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    port = free_port(1, 1)
    serve = ServeConfig(
        interval=3600,
        settle_ms=0,
        admins={ADMIN[0]: hash_password(ADMIN[1])},
        viewers={VIEWER[0]: hash_password(VIEWER[1])},
        secure_cookies=False,  # plain http on loopback
        public_url=f"http://127.0.0.1:{port}",
        wake_links=True,
    )
    extra = {"sleep": {"after": "8h"}, "cost": {"prices": {"t3.micro": 0.05}}}
    root = tmp_path_factory.mktemp("sleep") / "world"
    with served_world(root, serve, extra_config=extra, branch="s1", message="sleepy", port=port) as served:
        yield World(**vars(served))


def test_an_idle_environment_sleeps_on_its_instance_and_a_push_wakes_it(world: World) -> None:
    sb, pr = world.sb, world.pr
    iid = sb.instance_ids[0]
    world.pass_now()
    assert sb.instance_state(iid) == "running", "active: awake"
    world.idle_for(pr, 9)
    world.pass_now()
    assert sb.instance_state(iid) in ("stopping", "stopped")
    env = world.env(pr)
    assert (env["shown"], env["rest"], env["instance_id"]) == ("sleeping", "idle", iid), (
        "it keeps its instance"
    )
    head = sb.github.prs[pr].head_sha
    assert sb.github.status_states(head)[-1] == ("success", f"Preview sleeping: {IDLE}")
    (comment,) = sb.github.comments_on(pr)
    assert IDLE in comment["body"]
    assert f"{world.url}/e/{pr}" in comment["body"], "the published link goes through serve"

    pushed = sb.commit("s1", "pushed while asleep")
    sb.github.push(pr, pushed)
    world.pass_now()
    assert sb.instance_state(iid) == "running"
    assert sb.served(sb.addr_of(iid)) == pushed, "a push wakes it and deploys the new head"
    assert world.env(pr)["rest"] is None


def test_a_visit_of_its_link_wakes_it_for_a_signed_in_person_only(browser: Any, world: World) -> None:
    sb, pr = world.sb, world.pr
    iid = sb.instance_ids[0]
    world.idle_for(pr, 9)
    world.pass_now()
    assert sb.instance_state(iid) in ("stopping", "stopped")
    page = browser.new_page()
    page.goto(f"{world.url}/e/{pr}")
    assert "is asleep" in page.inner_text("#waking")
    assert world.store.sleep.activity()[pr].woken_at is None, "an anonymous visit wakes nothing"
    page.click("#sign-in")
    page.fill("input[name=login]", VIEWER[0])
    page.fill("input[name=password]", VIEWER[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.url}/e/{pr}")
    assert "is waking up" in page.inner_text("#waking"), "back on the link, which wakes it"
    assert "About" in page.inner_text(".estimate")
    woken = world.store.sleep.activity()[pr].woken_at
    assert woken is not None
    app = f"http://{sb.addr_of(iid)}:{sb.app_port}/"
    # The page follows on by itself (a Refresh header, no script) once the pass has deployed.
    page.wait_for_url(app, timeout=180_000)
    assert "revision: " in page.content()
    events = [(e.kind, e.actor) for e in world.store.events.recent(limit=20)]
    assert ("wake_requested", f"local:{VIEWER[0]}") in events


def test_a_sleeper_hands_its_instance_to_a_queued_pr_and_queues_once_woken(world: World) -> None:
    sb, first = world.sb, world.pr
    iid = sb.instance_ids[0]
    world.idle_for(first, 9)
    second, head = sb.open_pr("s2", "waiting", author="bob")
    world.pass_now()
    assert sb.served(sb.addr_of(iid)) == head, "the queued PR got the sleeper's instance"
    env = world.env(second)
    assert env["instance_id"] == iid
    b = Browser(world.url)
    b.sign_in(*VIEWER)
    snap = json.loads(b.request("/api/v1/status")[2])
    (rest,) = [r for r in snap["sleeping"] if r["pr"] == first]
    assert rest["without_instance"] is True
    assert first not in [q["pr"] for q in snap["queue"]], "asleep: it waits for nothing"
    assert (
        "its instance went to a waiting PR" in sb.github.status_states(sb.github.prs[first].head_sha)[-1][1]
    )
    admin = Browser(world.url)
    admin.sign_in(*ADMIN)
    token = admin.csrf("/")
    status, _, _ = admin.request(f"/environments/{first}/wake", {"csrf_token": token})
    assert status == 303
    world.pass_now()
    snap = json.loads(b.request("/api/v1/status")[2])
    assert [q["pr"] for q in snap["queue"]] == [first], "woken, it queues like any PR"


def test_the_pr_comment_carries_the_hours_and_price_recorded(world: World) -> None:
    sb, pr = world.sb, world.pr
    second = max(sb.github.prs)

    def started_ago(hours: float) -> None:
        """The open stretch of the second PR's environment started then (as if EC2 had said so)."""
        with world.store.engine.begin() as conn:
            conn.execute(
                text("UPDATE usage SET started_at = :at WHERE pr_number = :pr AND ended_at IS NULL"),
                {
                    "at": dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=hours),
                    "pr": second,
                },
            )
        world.pass_now()

    started_ago(0.4)
    (comment,) = sb.github.comments_on(second)
    assert "**Cost**" not in comment["body"], "under half an hour: no cost line (no edit every pass)"
    started_ago(6.5)
    (comment,) = sb.github.comments_on(second)
    assert "| **Cost** | ran 6\\.5 h, about \\$0\\.33 |" in comment["body"], "escaped for Markdown"
    assert world.env(second)["hours"] >= 6.5
    assert pr != second


def test_keep_awake_and_let_sleep_from_the_dashboard(browser: Any, world: World) -> None:
    second = max(world.sb.github.prs)
    page = chromium_sign_in(browser, world.url, ADMIN)
    row = page.locator(f'tr[data-pr="{second}"]')
    assert row.locator("a.url").get_attribute("href") == f"/e/{second}", "the link goes through serve"
    row.locator("form.keep-awake select").select_option("8")
    row.locator("form.keep-awake button").click()
    page.wait_for_url(f"{world.url}/")
    assert f"PR #{second}: kept awake until" in page.inner_text(".flash")
    assert "kept awake by local:ada until" in page.locator(f'tr[data-pr="{second}"] .pin').inner_text()
    act = world.store.sleep.activity()[second]
    assert act.pinned_by == "local:ada"
    page.locator(f'tr[data-pr="{second}"] form[action$="/let-sleep"] button').click()
    page.wait_for_url(f"{world.url}/")
    assert f"PR #{second}: it sleeps by the rules again." in page.inner_text(".flash")
    assert world.store.sleep.activity()[second].pinned_by is None
