"""Sign-off on a preview, end to end: `pullrekun serve` with the real pass, the GitHub simulator,
Chromium.

A verifier presses *Verified* on a ready environment: the pullrekun/verified status appears on
the simulated GitHub at the served commit; a push turns it pending; *Problem found* with a note
fails it; a viewer gets no button and is refused when posting anyway; the PR's author (signed
in with GitHub) cannot sign off their own PR; a sign-off while the environment deploys gets 409;
the API and the CLI sign off too; the chat channels say each sign-off once.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from pullrekun.cli import EXIT_BAD_INPUT, EXIT_OK, main
from pullrekun.config import ServeConfig
from pullrekun.web.auth import hash_password
from pullrekun.web.tokens import new_token, token_digest
from tests.integration.serving import ServedWorld, chromium_sign_in, served_world
from tests.integration.test_dashboard_browser import SHOTS
from tests.integration.test_dashboard_browser import browser as browser
from tests.integration.test_dashboard_http import Browser
from tests.receiver import Receiver

VERIFIER, VIEWER = ("vera", "verifier password 3"), ("vic", "viewer password 2")
OAUTH_CLIENT, OAUTH_SECRET = "Iv1.signoff", "signoff oauth secret"
CI_TOKEN = new_token()[0]
CONTEXT = "pullrekun/verified"


@dataclass
class World(ServedWorld):
    chat: Receiver

    def said(self) -> list[str]:
        """What the chat channel was told of sign-offs."""
        return [p["text"] for p in self.chat.posts if not p["text"].startswith("Preview ")]

    def head(self) -> str:
        return self.sb.github.prs[self.pr].head_sha

    def verified(self, sha: str) -> list[tuple[str, str]]:
        return self.sb.github.status_states(sha, CONTEXT)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    chat = Receiver()
    os.environ["SIGNOFF_SLACK_HOOK"] = chat.url("/slack")
    os.environ["PULLREKUN_OAUTH_CLIENT_SECRET"] = OAUTH_SECRET
    serve = ServeConfig(
        interval=3600,
        settle_ms=0,
        viewers={VIEWER[0]: hash_password(VIEWER[1])},
        verifiers={VERIFIER[0]: hash_password(VERIFIER[1])},
        verifiers_github=("gina", "acme/qa"),
        secure_cookies=False,
        oauth_client_id=OAUTH_CLIENT,
        access_cache_seconds=0,
        admin_tokens={"ci": token_digest(CI_TOKEN)},
    )
    report = {"report": {"slack_webhook_env": "SIGNOFF_SLACK_HOOK"}}
    root = tmp_path_factory.mktemp("signoff") / "world"
    try:
        with served_world(
            root, serve, extra_config=report, branch="so", message="to be signed off", author="alice"
        ) as served:
            served.sb.github.register_oauth_app(OAUTH_CLIENT, OAUTH_SECRET, "http://127.0.0.1:")
            served.sb.github.roles.update({"alice": "write"})
            served.sb.github.teams["acme/qa"] = {"tess": "active", "pat": "pending"}
            yield World(**vars(served), chat=chat)
    finally:
        chat.server.shutdown()
        os.environ.pop("SIGNOFF_SLACK_HOOK", None)
        os.environ.pop("PULLREKUN_OAUTH_CLIENT_SECRET", None)


def signed_in(browser: Any, world: World, who: tuple[str, str]) -> Any:
    return chromium_sign_in(browser, world.url, who)


def test_a_verifier_signs_off_and_a_push_turns_it_pending(browser: Any, world: World) -> None:
    world.pass_now()
    served = world.head()
    assert world.verified(served)[-1] == ("pending", f"Not yet verified at {served[:7]}")
    page = signed_in(browser, world, VERIFIER)
    row = page.locator(f'tr[data-pr="{world.pr}"]')
    assert row.locator('form[action$="/redeploy"]').count() == 0, "a verifier does not act"
    row.locator("form.verify button").click()
    page.wait_for_url(f"{world.url}/")
    assert f"PR #{world.pr}: verified at {served[:7]}" in page.inner_text(".flash")
    world.pass_now()
    assert world.verified(served)[-1] == ("success", f"Verified by {VERIFIER[0]} on the preview")
    page.reload()
    assert "verified by local:vera" in page.locator(f'tr[data-pr="{world.pr}"] .signoff').inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "signoff.png"), full_page=True)
    (comment,) = world.sb.github.comments_on(world.pr)
    assert f"Verified by {VERIFIER[0]} on the preview" in comment["body"]
    said = f'PR #{world.pr} "to be signed off" verified by {VERIFIER[0]} on the preview at {served[:12]}.'
    assert [text.split(" http")[0] for text in world.said()] == [said]

    pushed = world.sb.commit("so", "pushed after the sign-off")
    world.sb.github.push(world.pr, pushed)
    world.pass_now()
    assert world.verified(pushed)[-1] == ("pending", f"Not yet verified at {pushed[:7]}")
    assert world.verified(served)[-1][0] == "success", "the old commit keeps what it was given"

    row = page.locator(f'tr[data-pr="{world.pr}"]')
    page.reload()
    row.locator("form.problem input[name=note]").fill("the total <b>is</b> wrong")
    row.locator("form.problem button").click()
    page.wait_for_url(f"{world.url}/")
    world.pass_now()
    assert world.verified(pushed)[-1] == (
        "failure",
        f"Problem found by {VERIFIER[0]}: the total <b>is</b> wrong",
    )
    world.pass_now()
    assert len(world.said()) == 2, "each sign-off is said once"
    assert world.said()[-1].startswith(
        f'Problem found on PR #{world.pr} "to be signed off" by {VERIFIER[0]} at {pushed[:12]}: '
        "the total &lt;b&gt;is&lt;/b&gt; wrong http"
    )
    kinds = [(e.kind, e.actor) for e in world.store.events.recent(limit=20)]
    assert ("problem_found", "local:vera") in kinds
    assert ("verified", "local:vera") in kinds


def test_a_viewer_has_no_button_and_is_refused_when_posting(browser: Any, world: World) -> None:
    page = signed_in(browser, world, VIEWER)
    assert page.locator("form.verify").count() == 0
    b = Browser(world.url)
    b.sign_in(*VIEWER)
    token = b.csrf("/")
    status, _, body = b.request(f"/environments/{world.pr}/verify", {"csrf_token": token, "verdict": "ok"})
    assert status == 403
    assert "may look but not sign off" in body


def test_the_author_cannot_sign_off_their_own_pr(world: World) -> None:
    b = Browser(world.url)
    status, _, _ = b.github_sign_in("alice")
    assert status == 303
    before = len(world.store.signoffs.history(world.pr))
    token = b.csrf("/")
    assert b.request(f"/environments/{world.pr}/verify", {"csrf_token": token, "verdict": "ok"})[0] == 303
    assert "alice wrote PR" in b.request("/")[2]
    assert len(world.store.signoffs.history(world.pr)) == before


def test_a_sign_off_while_deploying_gets_409_and_the_api_and_cli_sign_off(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with world.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE assignments SET status = 'deploying' WHERE pr_number = :pr"), {"pr": world.pr}
        )
    request = urllib.request.Request(
        f"{world.url}/api/v1/environments/{world.pr}/verify",
        method="POST",
        data=json.dumps({"ok": True}).encode(),
        headers={"Authorization": f"Bearer {CI_TOKEN}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 409
    assert "is not ready at its head" in json.loads(refused.value.read())["message"]
    vera = Browser(world.url)
    vera.sign_in(*VERIFIER)
    token = vera.csrf(f"/environments/{world.pr}")
    status, headers, _ = vera.request(
        f"/environments/{world.pr}/verify", {"csrf_token": token, "verdict": "ok"}
    )
    assert status == 303
    assert "is not ready at its head" in vera.request(headers["location"])[2], "said on the page"
    world.pass_now()  # deployed again: ready
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 202
    monkeypatch.setitem(os.environ, "PULLREKUN_CONFIG", str(world.sb.config_path))
    assert main(["verify", str(world.pr), "--problem", ""]) == EXIT_BAD_INPUT
    assert "say what the problem is" in capsys.readouterr().err
    assert main(["verify", str(world.pr), "--problem", "buttons overlap on a phone"]) == EXIT_OK
    latest = world.store.signoffs.history(world.pr)[0]
    assert (latest.ok, latest.note, latest.actor.startswith("cli:")) == (
        False,
        "buttons overlap on a phone",
        True,
    )


def test_github_logins_and_team_members_may_sign_off_but_not_act(world: World) -> None:
    from tests.integration.test_e2e_reporting import check_openapi

    for login in ("gina", "tess"):  # named in serve.verifiers_github; a member of acme/qa
        b = Browser(world.url)
        assert b.github_sign_in(login)[0] == 303
        assert f"{login} (verifier)" in b.request("/")[2]
        token = b.csrf(f"/environments/{world.pr}")
        assert b.request(f"/environments/{world.pr}/verify", {"csrf_token": token, "verdict": "ok"})[0] == 303
        latest = world.store.signoffs.history(world.pr)[0]
        assert (latest.actor, latest.ok) == (f"github:{login}", True)
        refused = b.request(f"/environments/{world.pr}/redeploy", {"csrf_token": token})
        assert refused[0] == 403, "a verifier may not redeploy"
    pending = Browser(world.url)  # invited to the team, not yet a member: reads only
    assert pending.github_sign_in("pat")[0] == 303
    token = pending.csrf("/")
    assert (
        pending.request(f"/environments/{world.pr}/verify", {"csrf_token": token, "verdict": "ok"})[0] == 403
    )
    assert world.store.signoffs.history(world.pr)[0].actor == "github:tess"
    check_openapi(world.sb.github)


def test_the_readme_picture_of_a_sign_off_is_a_screenshot_of_it() -> None:
    import shutil

    from tests.paths import REPO

    picture = REPO / "docs" / "signoff.png"
    assert picture.is_file(), "docs/signoff.png is missing"
    assert "docs/signoff.png" in (REPO / "README.md").read_text()
    if (SHOTS / "signoff.png").is_file() and os.environ.get("PULLREKUN_UPDATE_PICTURES") == "1":
        shutil.copy(SHOTS / "signoff.png", picture)


def test_each_pr_has_a_page_with_its_scenario_sign_offs_and_deploys(browser: Any, world: World) -> None:
    page = signed_in(browser, world, VIEWER)
    page.locator(f'tr[data-pr="{world.pr}"] a.env-page').click()
    page.wait_for_url(f"{world.url}/environments/{world.pr}")
    assert page.inner_text("#environment").startswith(f"PR #{world.pr}: to be signed off")
    assert "No test scenario in the PR description" in page.inner_text("main")
    history = page.locator("#signoff-history tbody tr")
    assert history.count() >= 3
    assert "local:vera" in page.inner_text("#signoff-history")
    assert "problem: the total <b>is</b> wrong" in page.inner_text("#signoff-history")
    deploys = page.locator("#deploy-history tbody tr")
    assert deploys.count() >= 2
    assert "success" in deploys.first.inner_text()
    assert page.locator("form.verify").count() == 0, "a viewer gets no sign-off button here either"
    b = Browser(world.url)
    b.sign_in(*VIEWER)
    assert b.request("/environments/999")[0] == 404
