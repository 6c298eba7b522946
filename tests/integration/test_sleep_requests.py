"""What people ask of sleep and cost, over HTTP and the CLI: each a recorded request with who
asked (the pass is a counter here: the planner's side is tested in tests/unit/test_sleep.py and
end to end in test_sleep_browser.py).

Keep awake for a time or until let sleep, refused hours, a visit of an awake environment's link
counted as activity, the budget lifted by an admin and refused for a viewer, the CLI's wake,
keep-awake and budget, and the sleep and cost metrics.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from pullrekun.cli import EXIT_BAD_INPUT, EXIT_OK, main
from pullrekun.config import ServeConfig
from pullrekun.config.timing import CostConfig
from pullrekun.web.auth import hash_password
from pullrekun.web.tokens import new_token, token_digest
from tests.integration.serving import ServedWorld, served_world
from tests.integration.test_dashboard_http import Browser

ADMIN, VIEWER = ("ada", "admin password 1"), ("vic", "viewer password 2")
CI_TOKEN, WALL_TOKEN = new_token()[0], new_token()[0]


class World(ServedWorld):
    def call(self, method: str, path: str, token: str) -> tuple[int, dict[str, object]]:
        import json
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.service.url}{path}", method=method, headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def events(self) -> list[tuple[str, str | None]]:
        return [(e.kind, e.actor) for e in self.store.events.recent(limit=20)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    serve = ServeConfig(
        interval=3600,
        admins={ADMIN[0]: hash_password(ADMIN[1])},
        viewers={VIEWER[0]: hash_password(VIEWER[1])},
        secure_cookies=False,
        admin_tokens={"ci": token_digest(CI_TOKEN)},
        viewer_tokens={"wallboard": token_digest(WALL_TOKEN)},
        public_url="http://127.0.0.1:9",
        wake_links=True,
    )
    with served_world(
        tmp_path_factory.mktemp("sleepreq") / "world",
        serve,
        extra_config={"sleep": {"after": "8h"}, "cost": {"budget": 1.0}},
        branch="r1",
        message="asked of",
        passes=2,  # the second sees the instance running: its stretch is recorded
        stub_pass=True,
        adjust=lambda cfg: dataclasses.replace(cfg, cost=CostConfig(budget=1.0)),
    ) as served:
        yield World(**vars(served))


def test_keep_awake_for_a_time_or_until_let_sleep(world: World) -> None:
    pr = world.pr
    before = dt.datetime.now(dt.UTC)
    status, body = world.call("POST", f"/api/v1/environments/{pr}/keep-awake?hours=4", CI_TOKEN)
    assert status == 202, body
    act = world.store.sleep.activity()[pr]
    assert act.pinned_by == "token:ci"
    assert act.pinned_until is not None
    assert dt.timedelta(hours=3.9) < act.pinned_until - before < dt.timedelta(hours=4.1)
    assert ("pinned", "token:ci") in world.events()
    assert world.call("POST", f"/api/v1/environments/{pr}/keep-awake?hours=0", CI_TOKEN)[0] == 422
    assert world.call("POST", f"/api/v1/environments/{pr}/keep-awake", WALL_TOKEN)[0] == 403
    assert world.call("POST", f"/api/v1/environments/{pr}/let-sleep", CI_TOKEN)[0] == 202
    assert world.store.sleep.activity()[pr].pinned_by is None
    status, body = world.call("POST", f"/api/v1/environments/{pr}/let-sleep", CI_TOKEN)
    assert (status, body["message"]) == (404, f"PR #{pr} is not kept awake.")
    assert world.call("POST", "/api/v1/environments/999/keep-awake", CI_TOKEN)[0] == 404

    admin = Browser(world.service.url)
    admin.sign_in(*ADMIN)
    page = admin.request("/")[2]
    assert f'action="/environments/{pr}/keep-awake"' in page
    assert f'href="/e/{pr}"' in page, "the dashboard's link goes through serve"
    token = admin.csrf("/")
    form = {"csrf_token": token, "hours": ""}
    assert admin.request(f"/environments/{pr}/keep-awake", form)[0] == 303
    act = world.store.sleep.activity()[pr]
    assert (act.pinned_by, act.pinned_until) == (f"local:{ADMIN[0]}", None), "until let sleep"
    assert "kept awake by local:ada until let sleep" in admin.request("/")[2]
    assert admin.request(f"/environments/{pr}/let-sleep", {"csrf_token": token})[0] == 303


def test_a_visit_of_an_awake_environment_counts_as_activity(world: World) -> None:
    pr = world.pr
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=3)
    with world.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE activity SET active_at = :old WHERE pr_number = :pr"), {"old": old, "pr": pr}
        )
    viewer = Browser(world.service.url)
    viewer.sign_in(*VIEWER)
    status, headers, _ = viewer.request(f"/e/{pr}")
    env = world.store.journal.environments()[0]
    assert status == 303
    assert headers["location"].startswith("http://127.0.0."), "to the environment itself"
    assert env.assignment.pr_number == pr
    active = world.store.sleep.activity()[pr].active_at
    assert dt.datetime.now(dt.UTC) - active < dt.timedelta(minutes=1)
    anonymous = Browser(world.service.url)
    assert anonymous.request(f"/e/{pr}")[0] == 303, "an awake environment's link works for anyone"
    assert anonymous.request("/e/999")[0] == 404


def test_the_budget_is_lifted_by_an_admin_only(world: World) -> None:
    assert world.call("POST", "/api/v1/budget/lift", WALL_TOKEN)[0] == 403
    assert not world.store.usage.budget_lifted(dt.datetime.now(dt.UTC))
    status, body = world.call("POST", "/api/v1/budget/lift", CI_TOKEN)
    assert (status, body["message"]) == (
        202,
        "this month's budget is lifted: instances start and launch again.",
    )
    assert world.store.usage.budget_lifted(dt.datetime.now(dt.UTC))
    assert ("budget_lifted", "token:ci") in world.events()


def test_the_cli_wakes_keeps_awake_and_tells_the_budget(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(world.sb.config_path)
    monkeypatch.setitem(os.environ, "PULLREKUN_CONFIG", config)
    assert main(["keep-awake", str(world.pr), "--hours", "2"]) == EXIT_OK
    assert f"PR #{world.pr}: kept awake until" in capsys.readouterr().out
    assert main(["keep-awake", str(world.pr), "--hours", "9999"]) == EXIT_BAD_INPUT
    assert "--hours must be between 1 and 744" in capsys.readouterr().err
    assert main(["keep-awake", str(world.pr), "--off"]) == EXIT_OK
    assert main(["wake", str(world.pr)]) == EXIT_OK
    assert "it will be started on the next pass" in capsys.readouterr().out
    assert main(["wake", "999"]) == EXIT_BAD_INPUT
    assert "PR #999 holds no environment" in capsys.readouterr().err
    assert main(["budget"]) == EXIT_OK
    out = capsys.readouterr().out
    month = f"{dt.datetime.now(dt.UTC):%Y-%m}"
    assert out.startswith(f"{month}: "), out
    assert "instance-hours, about $" in out
    assert "of a $1.00 budget (lifted for this month)" in out
    actors = {actor for kind, actor in world.events() if kind in ("pinned", "wake_requested")}
    assert any(a is not None and a.startswith("cli:") for a in actors)


def test_the_metrics_count_sleepers_and_instance_hours(world: World) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{world.service.url}/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert 'pullrekun_environments_sleeping{reason="idle"} 0.0' in metrics
    line = next(x for x in metrics.splitlines() if x.startswith("pullrekun_instance_hours_month "))
    assert float(line.split()[1]) > 0, "the deployed instance has run since the first pass"


def test_an_action_on_the_environment_starts_its_idle_clock_again(world: World) -> None:
    pr = world.pr
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=7)
    with world.store.engine.begin() as conn:
        aged = text("UPDATE activity SET active_at = :old WHERE pr_number = :pr")
        conn.execute(aged, {"old": old, "pr": pr})
    assert world.call("POST", f"/api/v1/environments/{pr}/redeploy", CI_TOKEN)[0] == 202
    active = world.store.sleep.activity()[pr].active_at
    assert dt.datetime.now(dt.UTC) - active < dt.timedelta(minutes=1), "a redeploy is activity"
