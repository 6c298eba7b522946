"""Release notices, end to end: real passes on the sandbox (GitHub simulator with a git history,
moto), production read from a URL, a branch, a tag or GitHub deployments, and a chat receiver
that, like Google Chat, refuses a message id twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.github_records import Fault
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.notices import NoticeLedger
from pullrekun.adapters.state.store import Store
from pullrekun.app.results import PassOutcome
from pullrekun.cli import main
from tests.conftest import LOCAL_FIRST_HOST, run_pass, status_of
from tests.receiver import Receiver

RISK = "## Release risk"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


class Production:
    """What production answers at /revision: its sha (plain text, or JSON with ``as_json``)."""

    def __init__(self) -> None:
        self.sha = ""
        self.as_json = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = (
                    json.dumps({"build": {"sha": outer.sha}}) if outer.as_json else outer.sha + "\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/revision"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    hook = Receiver()
    monkeypatch.setenv("RELEASE_SLACK", hook.url("/slack"))
    monkeypatch.setenv("RELEASE_GCHAT", hook.url("/gchat?key=k&token=t"))
    yield hook
    hook.close()


@pytest.fixture
def production() -> Iterator[Production]:
    prod = Production()
    yield prod
    prod.close()


@pytest.fixture
def world(tmp_path: Path, chat: Receiver, production: Production) -> Iterator[Sandbox]:
    """A sandbox with no PRs open (passes run no playbook) and release notices on, from a URL."""
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST).start()
    production.sha = sb.github.history.branches["main"]
    release(sb, source="url", url=production.url)
    yield sb
    sb.stop()


def release(sb: Sandbox, **values: Any) -> None:
    sb.extra_config = {
        "release": {
            "slack_webhook_env": "RELEASE_SLACK",
            "google_chat_webhook_env": "RELEASE_GCHAT",
            "risk_in_released": True,
            **values,
        }
    }
    sb.write_config()


def merged(
    sb: Sandbox, title: str, style: str, *, body: str | None = None, author: str = "alice", **kw: Any
) -> int:
    number = sb.github.open_pr("f" * 40, title=title, body=body, author=author)
    sb.github.merge_pr(number, style, **kw)
    return number


def texts(hook: Receiver, path: str = "/slack") -> list[str]:
    return [p["text"] for p in hook.posts if p["path"].startswith(path)]


def ledger(sb: Sandbox) -> NoticeLedger:
    return NoticeLedger(Store.open(config_mod.load(sb.config_path).state_url))


def test_one_release_of_three_merge_styles_is_announced_once_on_each_channel(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    first = run_pass(sb)
    assert first.notices is not None
    assert first.notices.production_sha == production.sha
    assert chat.posts == [], "the first sha is recorded, history is not announced"
    a = merged(
        sb, "Merge-commit change", "merge", body=f"Intro\n\n{RISK}\nTouches billing.\n\n## Tests\nmany"
    )
    b = merged(sb, "Squashed change", "squash", author="bob")
    c = merged(sb, "Rebased change", "rebase", commits=3, body="No risk section here")
    revert = merged(
        sb, f"Revert #{b}", "squash", message=f"This reverts commit {sb.github.prs[b].merge_commit_sha}."
    )
    production.sha = sb.github.history.branches["main"]
    result = run_pass(sb)
    assert result.outcome is PassOutcome.CLEAN
    assert result.notices is not None
    assert result.notices.problem == ""
    (slack,) = texts(chat, "/slack")
    (gchat,) = texts(chat, "/gchat")
    assert slack == gchat
    assert slack.startswith(f"Released to production ({production.sha[:12]}): 4 pull requests:")
    order = [slack.index(f"|#{n}>") for n in (a, b, c, revert)]
    assert order == sorted(order), "in the order they were merged"
    for n in (a, b, c, revert):
        assert slack.count(f"|#{n}>") == 1, f"#{n} listed once"
        assert f"<{sb.github.url}/acme/webapp/pull/{n}|#{n}>" in slack
    assert f"#{b}> Squashed change by bob (reverted)" in slack
    assert "(a revert)" in slack
    assert "> Touches billing." in slack
    assert "many" not in slack, "the risk section ends at the next heading"
    assert "No risk section" not in slack, "a body without the heading has no risk notes, and no error"
    # Merge commits name their PR: the branch's own commits are not asked about.
    asked = [
        s.path for s in sb.github.served if "/commits/" in s.path and s.path.endswith("/pulls?per_page=100")
    ]
    assert len(asked) == 1 + 1 + 3 + 1
    run_pass(sb)
    assert len(chat.posts) == 2, "exactly once"
    gchat_ids = [p["messageId"] for p in chat.posts if p["path"].startswith("/gchat")]
    assert str(gchat_ids[0]).startswith("client-notice-")


def test_a_release_of_250_commits_is_read_page_by_page(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    run_pass(sb)
    big = merged(sb, "Big merge", "merge", commits=249)  # and its merge commit: 250
    production.sha = sb.github.history.branches["main"]
    run_pass(sb)
    (slack,) = texts(chat)
    assert "1 pull request:" in slack
    assert slack.count(f"|#{big}>") == 1
    pages = [s for s in sb.github.served if s.route.endswith("/compare/{basehead}")]
    assert len(pages) == 3, "100 + 100 + 50 commits"
    assert all(s.status == 200 for s in pages)


def test_a_rollback_is_said_as_one_with_what_is_no_longer_live(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    before = production.sha
    run_pass(sb)
    n = merged(sb, "Risky", "squash")
    production.sha = sb.github.history.branches["main"]
    run_pass(sb)
    production.sha = before
    run_pass(sb)
    released, rolled = texts(chat)
    assert released.startswith("Released to production")
    assert rolled.startswith(
        f"Production rolled back from {sb.github.history.branches['main'][:12]} to {before[:12]}"
    )
    assert f"|#{n}> Risky" in rolled


def test_hostile_titles_and_bodies_are_inert(world: Sandbox, chat: Receiver, production: Production) -> None:
    sb = world
    run_pass(sb)
    body = f"{RISK}\n<!here> see [docs](https://evil.example) and <https://evil.example|click>\n"
    merged(
        sb, "Fix <!channel> [x](https://evil.example) <https://evil.example|here> *bold*", "squash", body=body
    )
    production.sha = sb.github.history.branches["main"]
    run_pass(sb)
    (slack,) = texts(chat)
    for raw in ("<!channel>", "<!here>", "<https://evil.example|"):
        assert raw not in slack
    assert "&lt;!channel&gt;" in slack
    assert "> &lt;!here&gt; see [docs](https[:]//evil[.]example)" in slack, "no link made of it either"
    assert "evil.example" not in slack
    assert slack.count("<") == 1 + 0, "one link, pullrekun's own to the PR"


def test_a_failing_webhook_is_retried_next_pass_and_sends_once(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    run_pass(sb)
    merged(sb, "Change", "squash")
    production.sha = sb.github.history.branches["main"]
    chat.fail = 2  # both channels down for this pass
    result = run_pass(sb)
    assert result.notices is not None
    assert "503" in result.notices.problem
    assert chat.posts == []
    assert status_of(sb)["release"]["unsent"] == 2
    run_pass(sb)
    run_pass(sb)
    assert len(texts(chat, "/slack")) == 1
    assert len(texts(chat, "/gchat")) == 1
    assert status_of(sb)["release"]["unsent"] == 0


def _killed_pass(sb: Sandbox, point: str) -> None:
    marker = sb.root / "crash-marker"
    env = {**os.environ, "PULLREKUN_CRASH_AT": point, "PULLREKUN_CRASH_MARKER": str(marker)}
    proc = subprocess.run(
        [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "reconcile"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert marker.read_text().strip() == point


@pytest.mark.parametrize("point", ["notice-sent", "notice-sending"])
def test_a_pass_killed_around_a_send_duplicates_nothing(
    world: Sandbox, chat: Receiver, production: Production, point: str
) -> None:
    """Killed after a send went out (not yet recorded) and just before it went out: Google Chat's
    message id settles it (sent again, refused as a duplicate if it had arrived); Slack's send is
    never repeated, and `status` says it may not have arrived."""
    sb = world
    release(sb, source="url", url=production.url, google_chat_webhook_env="")  # Slack alone first
    run_pass(sb)
    merged(sb, "Change", "squash")
    production.sha = sb.github.history.branches["main"]
    _killed_pass(sb, point)
    run_pass(sb)
    run_pass(sb)
    arrived = 1 if point == "notice-sent" else 0
    assert len(texts(chat, "/slack")) == arrived, "never sent twice"
    (uncertain,) = status_of(sb)["release"]["uncertain"]
    assert "may not have reached slack" in uncertain
    store = Store.open(config_mod.load(sb.config_path).state_url)
    assert [e.message for e in store.events.recent() if e.kind == "notice_unknown"] == [uncertain]
    store.close()
    if point == "notice-sending":  # it had not gone out: whoever looks can have it sent again
        ((notice, _),) = ledger(sb).unknown()
        assert main(["--config", str(sb.config_path), "release-notes", "--resend", str(notice.id)]) == 0
        run_pass(sb)
        assert len(texts(chat, "/slack")) == 1
        assert status_of(sb)["release"]["uncertain"] == []
    # Google Chat, the same kill: its message id makes the repeat safe.
    release(sb, source="url", url=production.url, slack_webhook_env="NO_SUCH_VARIABLE")
    merged(sb, "Another", "squash")
    production.sha = sb.github.history.branches["main"]
    _killed_pass(sb, point)
    run_pass(sb)
    run_pass(sb)
    assert len(texts(chat, "/gchat")) == 1, "no duplicate, no loss"
    assert status_of(sb)["release"]["unsent"] == 0


def test_unreachable_production_is_no_notice_no_crash_and_said_in_status(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    run_pass(sb)
    release(sb, source="url", url="http://127.0.0.1:9/revision")
    result = run_pass(sb)
    assert result.outcome is PassOutcome.CLEAN
    assert result.notices is not None
    assert "could not be read" in result.notices.problem
    facts = status_of(sb)["release"]
    assert "127.0.0.1:9/revision could not be read" in facts["problem"]
    assert facts["production_sha"] == production.sha, "the last sha read is kept"
    assert chat.posts == []
    production.as_json = True
    release(sb, source="url", url=production.url, url_json_field="build.sha")
    run_pass(sb)
    assert status_of(sb)["release"]["problem"] is None
    assert chat.posts == [], "production did not move"


@pytest.mark.parametrize("source", ["branch", "tag", "deployment"])
def test_production_read_from_github_costs_nothing_when_it_did_not_move(
    world: Sandbox, chat: Receiver, source: str
) -> None:
    sb, gh = world, world.github
    start = gh.history.branches["main"]
    gh.history.branches["production"] = start
    gh.tag("v1.9.0", start, annotated=True)
    gh.deploy(start)
    release(sb, source=source)
    run_pass(sb)
    n = merged(sb, "Shipped", "merge")
    head = gh.history.branches["main"]
    gh.history.branches["production"] = head
    gh.tag("v1.10.0", head, annotated=True)  # after v1.9.0 by version, not by name
    gh.deploy(head)
    gh.deploy(start, state="failure")  # the newest deployment failed: production is still head
    run_pass(sb)
    (slack,) = texts(chat)
    assert f"|#{n}> Shipped" in slack
    counted, seen = gh.counters()["counted"], len(gh.served)
    run_pass(sb)
    reads = [s for s in gh.served[seen:] if "/git/" in s.path or "/deployments" in s.path]
    assert reads, "production was read"
    assert all(s.status == 304 for s in reads), [(s.path, s.status) for s in reads]
    assert len(texts(chat)) == 1
    assert gh.counters()["counted"] - counted <= 1, "only the PR list may cost (no PRs: it is free too)"


def test_waiting_for_release_prints_posts_and_is_scheduled(
    world: Sandbox, chat: Receiver, production: Production, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = world
    run_pass(sb)
    a = merged(sb, "Waiting one", "squash", body=f"{RISK}\nMigrates <!channel> the users table.\n")
    b = merged(sb, "Waiting two", "merge", body="no notes")
    assert main(["--config", str(sb.config_path), "release-notes", "--pending"]) == 0
    out = capsys.readouterr().out
    assert "Waiting for release: 2 pull requests merged into main" in out
    assert f"|#{a}> Waiting one" in out
    assert "> Migrates &lt;!channel&gt; the users table." in out
    assert f"|#{b}> Waiting two" in out
    assert chat.posts == [], "printing posts nothing"
    assert main(["--config", str(sb.config_path), "release-notes", "--pending", "--post"]) == 0
    capsys.readouterr()
    assert len(texts(chat)) == 1
    assert texts(chat)[0].startswith("Waiting for release: 2")
    # The schedule: a slot that just passed posts once.
    now = dt.datetime.now(dt.UTC)
    slot = f"{now:%H:%M}"
    release(sb, source="url", url=production.url, pending_schedule=[slot])
    run_pass(sb)
    run_pass(sb)
    assert len(texts(chat)) == 2, "the scheduled notice once"
    before = os.umask(0o022)
    os.umask(before)
    assert main(["--config", str(sb.config_path), "release-notes"]) == 0
    after = os.umask(0o022)
    os.umask(after)
    assert after == before, "a command run inside another program gives its umask back"
    listing = capsys.readouterr().out
    assert "pending" in listing
    assert "slack sent" in listing


def test_the_dashboard_button_and_the_api_ask_for_the_waiting_notice(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    """Pressing the button records who asked; the next pass renders and posts it, once."""
    import dataclasses

    from pullrekun.config import ServeConfig
    from pullrekun.web.auth import hash_password
    from pullrekun.web.serve import Service
    from pullrekun.web.tokens import new_token, token_digest
    from tests.integration.test_dashboard_http import Browser

    sb = world
    run_pass(sb)
    n = merged(sb, "Waiting on the page", "squash", body=f"{RISK}\nFlag day.")
    token = new_token()[0]
    serve = ServeConfig(
        admins={"ada": hash_password("pw ada 1")},
        viewers={"vic": hash_password("pw vic 2")},
        secure_cookies=False,
        admin_tokens={"ci": token_digest(token)},
    )
    cfg = dataclasses.replace(config_mod.load(sb.config_path), serve=serve)
    store = Store.open(cfg.state_url)
    service = Service(cfg, store, "hook secret", bind="127.0.0.1", port=0, run_pass=lambda: "clean")
    service.start_background()
    try:
        viewer = Browser(service.url)
        viewer.sign_in("vic", "pw vic 2")
        assert "Post the waiting-for-release notice" not in viewer.request("/")[2]
        assert viewer.request("/releases/pending", {"csrf_token": viewer.csrf()})[0] == 403
        admin = Browser(service.url)
        admin.sign_in("ada", "pw ada 1")
        page = admin.request("/")[2]
        assert f"Production runs <code>{production.sha[:12]}</code>" in page
        # A send a pass died in, on Slack: the page says it may not have arrived.
        ledger = NoticeLedger(store)
        lost = ledger.record("release", production.sha, production.sha, "text", ("slack",), NOW)
        ledger.mark(lost, "slack", "unknown", NOW, f"release notice {lost} may not have reached slack")
        assert (
            f'<p class="error">release notice {lost} may not have reached slack</p>' in admin.request("/")[2]
        )
        assert ledger.resend(lost, NOW, "test")
        ledger.mark(lost, "slack", "sent", NOW)
        assert admin.request("/releases/pending", {"csrf_token": "forged"})[0] == 403
        assert admin.request("/releases/pending", {"csrf_token": admin.csrf()})[0] == 303
        assert "will be posted to the release channels" in admin.request("/")[2]
        assert chat.posts == [], "the page records; the pass posts"
        run_pass(sb)
        (text,) = texts(chat)
        assert f"|#{n}> Waiting on the page" in text
        assert "> Flag day." in text
        (asked,) = [e for e in store.events.recent() if e.kind == "notice_requested"]
        assert asked.actor == "local:ada"
        import urllib.request

        def api() -> int:
            req = urllib.request.Request(
                f"{service.url}/api/v1/releases/pending", method="POST",
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        assert api() == 202
        assert api() == 409, "asked once until a pass posts it"
        run_pass(sb)
        assert len(texts(chat)) == 2
    finally:
        service.shutdown()
        store.close()


def test_a_sha_github_cannot_compare_is_recorded_not_announced(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    run_pass(sb)
    production.sha = (
        "0123456789abcdef0123456789abcdef01234567"  # history rewritten: GitHub has no such commit
    )
    result = run_pass(sb)
    assert result.notices is not None
    assert result.notices.problem == ""
    assert chat.posts == []
    assert status_of(sb)["release"]["last_move"] == "unlinked"
    store = Store.open(config_mod.load(sb.config_path).state_url)
    (said,) = [e.message for e in store.events.recent() if e.kind == "release_unlinked"]
    store.close()
    assert "not announced" in said
    n = merged(sb, "After the rewrite", "squash")
    production.sha = sb.github.history.branches["main"]
    run_pass(sb)
    assert chat.posts == [], "still no compare base: recorded again, not announced"
    n2 = merged(sb, "Next", "squash")
    production.sha = sb.github.history.branches["main"]
    run_pass(sb)
    (text,) = texts(chat)
    assert f"|#{n2}> Next" in text
    assert f"|#{n}>" not in text, "only what this move brought"


def test_a_released_pr_says_where_it_was_previewed_and_its_comment_says_released(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb = world
    before = production.sha
    number, _ = sb.open_pr("previewed", "hello from the preview", title="Previewed change")
    assert run_pass(sb).ok
    url = status_of(sb)["environments"][0]["url"]
    assert url.startswith("http://127.0.0.")
    sb.github.merge_pr(number, "squash")
    production.sha = sb.github.history.branches["main"]
    # GitHub fails the comment edits of this pass (the report's "stopped", the release's line).
    sb.github.inject(Fault(502, times=2, path_prefix="/repos/acme/webapp/issues/comments/", method="PATCH"))
    result = run_pass(sb)  # the PR closed: its instance stops; production moved: announced
    assert result.notices is not None
    assert "not updated (retried next pass)" in result.notices.problem
    (text,) = texts(chat)
    assert f"|#{number}> Previewed change by alice, previewed at {url}" in text
    (comment,) = sb.github.comments_on(number)
    assert "Preview environment: ready" in comment["body"], "not edited yet"
    run_pass(sb)
    released = sb.github.history.branches["main"]
    (comment,) = sb.github.comments_on(number)
    assert "Preview environment: stopped" in comment["body"]
    assert f"**Released** to production in `{released[:12]}`" in comment["body"]
    production.sha = before
    run_pass(sb)
    (comment,) = sb.github.comments_on(number)
    assert f"**Rolled back:** production went back to `{before[:12]}`" in comment["body"]
    assert "**Released**" not in comment["body"]
    edits = len(sb.github.writes())
    run_pass(sb)
    assert len(sb.github.writes()) == edits, "said once"


def test_a_draft_release_keeps_the_waiting_notes_for_whoever_cuts_the_release(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb, gh = world, world.github
    release(sb, source="url", url=production.url, draft_release=True)
    run_pass(sb)
    (draft,) = gh.releases.values()
    assert (draft["draft"], draft["name"], draft["tag_name"]) == (True, "Next release", "next")
    assert "Nothing is waiting" in draft["body"]
    n = merged(sb, "Ship [me](https://evil.example) @team", "squash", body=f"{RISK}\nCareful <b>now</b>.")
    run_pass(sb)
    (draft,) = gh.releases.values()
    body = draft["body"]
    assert (
        f"[#{n}]({gh.url}/acme/webapp/pull/{n}) Ship \\[me\\]\\(https\\://evil\\.example\\) @\u2060team"
        in body
    )
    assert "> Careful &lt;b&gt;now&lt;/b&gt;\\." in body
    counted, writes = gh.counters()["counted"], len(gh.writes())
    run_pass(sb)
    assert gh.counters()["counted"] == counted, "an idle pass reads the branch head with its ETag: free"
    assert len(gh.writes()) == writes
    gh.publish_release(draft["id"])  # someone cut the release from it
    production.sha = gh.history.branches["main"]
    run_pass(sb)
    published, fresh = sorted(gh.releases.values(), key=lambda r: r["id"])
    assert not published["draft"]
    assert published["body"] == body, "a published release is left alone"
    assert fresh["draft"]
    assert "Nothing is waiting" in fresh["body"]
    assert len(texts(chat)) == 1, "and the release was announced"


def test_a_token_that_may_not_write_releases_is_said_once_per_move(
    world: Sandbox, chat: Receiver, production: Production
) -> None:
    sb, gh = world, world.github
    release(sb, source="url", url=production.url, draft_release=True)
    message = "Resource not accessible by integration"
    # A permission refusal, not a rate limit: the limit is far from spent.
    left = {"X-RateLimit-Remaining": "4000"}
    gh.inject(Fault(403, 10, "/repos/acme/webapp/releases", left, message, method="POST"))
    result = run_pass(sb)
    assert result.outcome is PassOutcome.CLEAN
    assert result.notices is not None
    assert message in result.notices.problem
    posts = [s for s in gh.served if s.method == "POST" and "/releases" in s.path]
    run_pass(sb)
    assert [s for s in gh.served if s.method == "POST" and "/releases" in s.path] == posts, "not every pass"
    store = Store.open(config_mod.load(sb.config_path).state_url)
    refused = [e for e in store.events.recent() if e.kind == "draft_release_refused"]
    store.close()
    assert len(refused) == 1
    assert gh.releases == {}


@pytest.mark.parametrize("comment_released", [True, False])
def test_comment_released_decides_whether_a_deployed_prs_comment_is_told(
    world: Sandbox, chat: Receiver, production: Production, comment_released: bool
) -> None:
    """A PR pullrekun deployed gets its comment told of the release unless comment_released is
    false; a PR it never deployed never does (its deployment row is written here: no playbook)."""
    from pullrekun.adapters.state.schema import DeploymentRow

    sb = world
    release(sb, source="url", url=production.url, comment_released=comment_released)
    run_pass(sb)
    deployed = merged(sb, "Previewed once", "squash")
    never = merged(sb, "Never previewed", "squash")
    store = Store.open(config_mod.load(sb.config_path).state_url)
    with store.session() as s, s.begin():
        now = dt.datetime.now(dt.UTC)
        s.add(DeploymentRow(pr_number=deployed, instance_id="i-00000001", sha="a" * 40, reason="r",
                            status="success", started_at=now, finished_at=now))  # fmt: skip
    production.sha = sb.github.history.branches["main"]
    run_pass(sb)
    (notice,) = [n for n in NoticeLedger(store).recent() if n.kind == "release"]
    store.close()
    told = {x.channel for x in notice.sends if x.channel.startswith("pr-")}
    assert told == ({f"pr-{deployed}"} if comment_released else set())
    assert f"pr-{never}" not in told
