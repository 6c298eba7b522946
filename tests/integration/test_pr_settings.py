"""A PR's own settings ([app] pr_settings), end to end: `pullrekun serve` with the real pass.

Someone who may act sets FEATURE_X on the PR's page; the next pass writes it to the
environment's app.env and restarts the app at the same commit (no new checkout), and the app
reads it back; a value outside the pattern and a name not listed are refused with the reason; a
viewer may not set one; an env:FEATURE_X=... label sets it when labels are allowed, and the
dashboard's value wins over it.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator

import pytest

from pullrekun.config import ServeConfig
from pullrekun.web.auth import hash_password
from tests.integration.serving import ServedWorld, served_world
from tests.integration.test_dashboard_http import Browser

ADMIN, VIEWER = ("ada", "admin password 1"), ("vic", "viewer password 2")


class World(ServedWorld):
    def page(self) -> str:
        iid = self.sb.instance_ids[0]
        with urllib.request.urlopen(f"http://{self.sb.addr_of(iid)}:{self.sb.app_port}/", timeout=5) as resp:
            return str(resp.read().decode())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    app = {"pr_settings": ["FEATURE_X"], "pr_setting_labels": True}
    serve = ServeConfig(
        interval=3600,
        settle_ms=0,
        admins={ADMIN[0]: hash_password(ADMIN[1])},
        viewers={VIEWER[0]: hash_password(VIEWER[1])},
        secure_cookies=False,
    )
    root = tmp_path_factory.mktemp("settings") / "world"
    with served_world(
        root, serve, extra_config={"app": app}, branch="set", message="with settings"
    ) as served:
        yield World(**vars(served))


def _set(b: Browser, pr: int, name: str, value: str) -> str:
    token = b.csrf(f"/environments/{pr}")
    status, headers, _ = b.request(
        f"/environments/{pr}/settings", {"csrf_token": token, "name": name, "value": value}
    )
    assert status == 303, status
    return b.request(headers["location"])[2]


def test_a_setting_is_written_and_the_app_restarts_with_it_at_the_same_commit(world: World) -> None:
    admin = Browser(world.url)
    admin.sign_in(*ADMIN)
    before = world.page()
    assert "feature:" not in before
    page = _set(admin, world.pr, "FEATURE_X", "on")
    assert f"PR #{world.pr}: FEATURE_X=on; its app restarts with it on the next pass." in page
    world.pass_now()
    after = world.page()
    assert "feature: FEATURE_X=on" in after
    revision = re.findall(r"revision: (\w+)", after)
    assert revision == re.findall(r"revision: (\w+)", before), "the same commit"
    last = world.store.journal.deployments(world.pr)[-1]
    assert (last.reason, last.status) == ("its settings changed", "success")
    page = admin.request(f"/environments/{world.pr}")[2]
    assert re.search(r'<td class="applied">on</td>', page), "the page says what the app has"
    (comment,) = world.sb.github.comments_on(world.pr)
    assert "| **Settings** | FEATURE\\_X=on |" in comment["body"], "and so does the PR's comment"
    world.pass_now()
    assert world.store.journal.deployments(world.pr)[-1].id == last.id, "applied: nothing more to do"


def test_bad_values_unknown_names_and_viewers_are_refused_with_the_reason(world: World) -> None:
    admin = Browser(world.url)
    admin.sign_in(*ADMIN)
    assert "refused: values are up to 64 of A-Z a-z 0-9 . _ : -." in _set(
        admin, world.pr, "FEATURE_X", "on;reboot"
    )
    page = _set(admin, world.pr, "DB_PASSWORD", "x")
    assert "refused: &#39;DB_PASSWORD&#39; is not a setting a PR may set (allowed: FEATURE_X)." in page
    assert world.store.settings.recorded()[world.pr] == {"FEATURE_X": "on"}
    viewer = Browser(world.url)
    viewer.sign_in(*VIEWER)
    token = viewer.csrf(f"/environments/{world.pr}")
    form = {"csrf_token": token, "name": "FEATURE_X", "value": "off"}
    assert viewer.request(f"/environments/{world.pr}/settings", form)[0] == 403


def test_a_label_sets_it_and_the_dashboards_value_wins(world: World) -> None:
    world.sb.github.set_labels(world.pr, ["env:FEATURE_X=blue"])
    world.pass_now()
    assert "feature: FEATURE_X=on" in world.page(), "the dashboard's value wins over the label"
    admin = Browser(world.url)
    admin.sign_in(*ADMIN)
    _set(admin, world.pr, "FEATURE_X", "")
    world.pass_now()
    assert "feature: FEATURE_X=blue" in world.page()
    (comment,) = world.sb.github.comments_on(world.pr)
    assert "| **Settings** | FEATURE\\_X=blue |" in comment["body"]
