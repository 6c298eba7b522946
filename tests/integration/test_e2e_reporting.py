"""What the PRs show on GitHub: statuses or check runs, deployments, the comment, chat.

The whole loop runs for real (moto EC2, the apps on loopback hosts, ansible-runner)
against the GitHub simulator, whose every answer is checked against GitHub's OpenAPI
description at the end of each test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.github_sim import Fault, GitHubSimulator
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.github.publish import COMMENT_MARKER
from pullrekun.adapters.state.store import Store
from pullrekun.app.results import PassOutcome, PassResult
from pullrekun.cli import EXIT_FAILURES, EXIT_OK
from tests import openapi
from tests.conftest import LOCAL_FIRST_HOST, need, run_cli, run_pass
from tests.receiver import Receiver

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


def ok_pass(sb: Sandbox) -> PassResult:
    result = run_pass(sb)
    assert result.outcome is PassOutcome.CLEAN, (result.problem, result.outcomes)
    assert result.report is not None
    assert result.report.problem == "", result.report
    return result


def check_openapi(sim: GitHubSimulator) -> None:
    """Every answer the simulator gave matches GitHub's documented schema."""
    need(openapi.missing())
    checked = 0
    for served in sim.served:
        if served.route == "error" or served.status == 304:
            continue
        openapi.validate(served.route, served.method, served.status, served.body)
        checked += 1
    assert checked > 0


def deployment_states(sim: GitHubSimulator, pr: int) -> list[list[str]]:
    return [[s["state"] for s in d["statuses"]] for d in sim.deployments_of(pr)]


def test_the_life_of_a_pr_queued_deploying_ready_then_closed(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sim = sb.github
    prs = {n: sha for n, sha in (sb.open_pr(f"f{i}", f"hello {i}") for i in range(4))}
    last = max(prs)
    ok_pass(sb)
    first = min(prs)
    states = sim.status_states(prs[first])
    assert [s for s, _ in states] == ["pending", "success"]
    assert states[0][1].startswith("Preview deploying: ")
    ready = next(st for st in sim.statuses[prs[first]] if st["state"] == "success")
    assert ready["target_url"].startswith("http://127.0.0.")
    assert ready["target_url"].endswith(f":{sb.app_port}/")
    assert sim.status_states(prs[last]) == [("pending", "Preview queued: 1st in line, 3 instances busy")]
    assert deployment_states(sim, first) == [["in_progress", "success"]]
    dep = sim.deployments_of(first)[0]
    assert dep["environment"] == f"preview/pr-{first}"
    assert dep["transient_environment"]
    assert not dep["production_environment"]
    assert dep["sha"] == prs[first]
    assert dep["statuses"][-1]["environment_url"] == ready["target_url"]
    (comment,) = sim.comments_on(first)
    assert COMMENT_MARKER in comment["body"]
    assert ready["target_url"] in comment["body"]
    assert prs[first][:12] in comment["body"]
    (queued_comment,) = sim.comments_on(last)
    assert "1st in line" in queued_comment["body"]

    # Close the first PR: the queued one takes its instance in the same pass.
    sim.close(first)
    ok_pass(sb)
    assert [s for s, _ in sim.status_states(prs[last])] == ["pending", "pending", "success"]
    assert deployment_states(sim, first) == [["in_progress", "success", "inactive"]]
    assert "was closed" in sim.comments_on(first)[0]["body"]
    assert len(sim.comments_on(last)) == 1
    assert "ready" in sim.comments_on(last)[0]["body"]

    # An idle pass sends nothing and costs nothing.
    ok_pass(sb)  # the comment edits moved updated_at: this one re-reads the list once
    before = sim.counters()
    ok_pass(sb)
    after = sim.counters()
    assert after["counted"] == before["counted"]
    assert not [s for s in sim.served[before["requests"] :] if s.method != "GET"]
    check_openapi(sim)


def test_a_failing_health_check_names_the_step_and_the_task(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.health_timeout = 3
    sb.write_config()
    number, sha = sb.open_pr("broken", "crash on start")
    result = run_pass(sb)
    assert result.outcome is PassOutcome.FAILURES
    state, description = sb.github.status_states(sha)[-1]
    assert state == "failure"
    assert description.startswith("Preview failed at the health check step (")
    assert len(description) <= 140
    assert deployment_states(sb.github, number) == [["in_progress", "failure"]]
    body = sb.github.comments_on(number)[0]["body"]
    assert "the health check step failed" in body
    assert "health check failed" in body
    assert "Last lines of its output" in body
    check_openapi(sb.github)


def test_the_comment_is_edited_in_place_across_ten_passes(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, _ = sb.open_pr("busy", "v0")
    for i in range(1, 10):
        ok_pass(sb)
        if i % 3 == 0:
            sb.github.push(number, sb.commit("busy", f"v{i}"))
    ok_pass(sb)
    (comment,) = sb.github.comments_on(number)
    assert sb.github.prs[number].head_sha[:12] in comment["body"]
    posts = [s for s in sb.github.served if s.method == "POST" and s.route.endswith("/comments")]
    edits = [s for s in sb.github.served if s.method == "PATCH" and "comments" in s.route]
    assert len(posts) == 1
    assert len(edits) >= 3

    # Someone deletes the comment: the next change posts a new one (found by marker, none left).
    sb.github.delete_comment(comment["id"])
    sb.github.push(number, sb.commit("busy", "after the delete"))
    ok_pass(sb)
    assert len(sb.github.comments_on(number)) == 1


def test_a_lost_state_db_finds_the_comment_again_by_its_marker(
    local_sandbox: Sandbox, tmp_path: Path
) -> None:
    sb = local_sandbox
    number, _ = sb.open_pr("x", "hello", title=f"{COMMENT_MARKER} pretend")
    ok_pass(sb)
    (comment,) = sb.github.comments_on(number)
    # A reply quoting our comment carries the marker too, but does not start with it.
    quote = sb.github.user_comment(number, "> " + comment["body"].replace("\n", "\n> ") + "\nWhy?")
    # A fresh state DB knows no comment id: it must find ours by the marker.
    sb.state_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    sb.write_config()
    ok_pass(sb)
    assert [c["id"] for c in sb.github.comments_on(number)] == [comment["id"], quote]
    assert sb.github.comments_on(number)[1]["body"].endswith("Why?")  # never edited
    assert sb.github.comments_on(number)[0]["updated_at"] > comment["updated_at"]

    # Ours is deleted and the state DB lost again: the quoting reply is the only comment with
    # the marker in it, and it is still not taken for ours.
    sb.github.delete_comment(comment["id"])
    sb.state_url = f"sqlite:///{tmp_path / 'fresh-again.db'}"
    sb.write_config()
    ok_pass(sb)
    reply, ours = sb.github.comments_on(number)
    assert reply["id"] == quote
    assert reply["body"].endswith("Why?")
    assert ours["body"].startswith(COMMENT_MARKER)

    # An outsider's comment that starts with the marker is not adopted either: pullrekun's
    # comments are the ones its own identity wrote.
    sb.github.delete_comment(ours["id"])
    fake = sb.github.user_comment(number, f"{COMMENT_MARKER}\nLooks ready: http://evil.example/", "mallory")
    sb.state_url = f"sqlite:///{tmp_path / 'fresh-third.db'}"
    sb.write_config()
    ok_pass(sb)
    *_, planted, mine = sb.github.comments_on(number)
    assert planted["id"] == fake
    assert planted["body"].endswith("http://evil.example/"), "the outsider's comment was not edited"
    assert mine["user"]["login"] == "pullrekun-operator"
    check_openapi(sb.github)


def test_fork_prs_need_an_approval_and_a_new_one_after_each_push(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sim = sb.github
    number, sha = sb.open_pr("fork-feature", "from a fork", fork_owner="stranger")
    ok_pass(sb)
    assert sim.status_states(sha) == [
        (
            "success",
            "No preview: from a fork: a maintainer must approve its head commit (a review, or the "
            "preview:approved label)",
        )
    ]
    assert sim.deployments_of(number) == []
    assert sim.comments_on(number) == []
    assert all(sb.instance_state(i) == "stopped" for i in sb.instance_ids)

    sim.set_labels(number, ["preview:approved"])
    ok_pass(sb)
    assert sim.status_states(sha)[-1][0] == "success"
    assert sb.served(sb.host_addrs[0]) == sha or any(sb.served(a) == sha for a in sb.host_addrs)

    new_sha = sb.commit("fork-feature", "pushed after approval")
    sim.push(number, new_sha)
    ok_pass(sb)
    assert sim.labels_of(number) == []  # pullrekun took the approval back
    assert "new commits since the approval" in sim.status_states(new_sha)[-1][1]
    assert not any(sb.served(a) == new_sha for a in sb.host_addrs)
    assert all(sb.instance_state(i) == "stopped" for i in sb.instance_ids)
    # No GitHub deployment at a fork's commit (report.fork_deployments is off): a workflow run
    # `on: deployment` would run the fork's code with the repository's secrets.
    assert sim.deployments_of(number) == []

    ok_pass(sb)  # the label is gone: the recorded approval is forgotten
    sim.set_labels(number, ["preview:approved"])
    ok_pass(sb)
    assert any(sb.served(a) == new_sha for a in sb.host_addrs)
    check_openapi(sim)


def test_draft_and_opted_out_prs_are_skipped(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    draft, draft_sha = sb.open_pr("wip", "wip", draft=True)
    _optout, optout_sha = sb.open_pr("quiet", "quiet", labels=["no-preview"])
    ok_pass(sb)
    assert sb.github.status_states(draft_sha)[-1][1].startswith("No preview: draft pull request")
    assert sb.github.status_states(optout_sha)[-1][1] == "No preview: opted out with the no-preview label"
    assert all(sb.instance_state(i) == "stopped" for i in sb.instance_ids)

    sb.github.prs[draft].draft = False
    sb.github.set_labels(draft, [])  # moves updated_at like GitHub's "ready for review"
    ok_pass(sb)
    state, description = sb.github.status_states(draft_sha)[-1]
    assert state == "success"
    assert description.startswith("Preview ready")


def _expire_backoff(sb: Sandbox) -> None:
    """Let a recorded GitHub back-off end now (instead of sleeping until it does)."""
    store = Store.open(sb.state_db_url)
    try:
        if "backoff_until" in store.github_facts.read():
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            store.github_facts.write({"backoff_until": past.isoformat()}, past)
    finally:
        store.close()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(502, times=50, method="POST", message="Server Error"),
        Fault(403, times=50, method="POST", message="API rate limit exceeded", headers={"Retry-After": "60"}),
    ],
    ids=["502", "403-rate-limited"],
)
def test_github_failing_while_reporting_tears_nothing_down_and_reports_later(
    local_sandbox: Sandbox, fault: Fault
) -> None:
    sb = local_sandbox
    number, sha = sb.open_pr("f", "hello")
    sb.open_pr("g", "hello too")
    sb.github.inject(fault)
    first = len(sb.github.served)
    result = run_pass(sb)
    assert result.report is not None
    assert result.report.problem
    assert any(sb.served(a) == sha for a in sb.host_addrs)  # deployed all the same
    assert sb.github.status_states(sha) == []
    # Each report (the early "in progress" one and the final one) stops at its first failed
    # write, and a write is never re-sent blind within the pass: one POST each, no PATCH. After
    # a rate limit, the final report sends nothing at all.
    writes = [s.method for s in sb.github.served[first:] if s.method != "GET"]
    assert writes == (["POST"] if fault.status == 403 else ["POST", "POST"]), writes
    fault.times = 0
    _expire_backoff(sb)
    ok_pass(sb)
    assert sb.github.status_states(sha)[-1][0] == "success"
    assert deployment_states(sb.github, number) == [["success"]]
    store = Store.open(config_mod.load(sb.config_path).state_url)
    try:
        assert len(store.journal.deployments(number)) == 1  # reported later, never redeployed
    finally:
        store.close()


def test_a_rate_limited_pr_list_backs_off_until_retry_after_and_says_so(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("f", "hello")
    # Longer than a pass waits in-process (a few seconds): a recorded back-off.
    sb.github.inject(Fault(403, times=1, message="API rate limit exceeded", headers={"Retry-After": "30"}))
    asked_from = dt.datetime.now(dt.UTC)
    out = run_cli(sb, "reconcile")
    asked_by = dt.datetime.now(dt.UTC)
    assert out.returncode == EXIT_FAILURES
    assert "rate limited until" in out.stderr
    served = len(sb.github.served)
    out = run_cli(sb, "reconcile")
    assert out.returncode == EXIT_FAILURES
    assert "backing off" in out.stderr
    assert len(sb.github.served) == served  # not one request while backing off
    status = run_cli(sb, "status")
    assert "backing off until" in status.stdout
    # The back-off's time comes (moved into the past rather than waited for): passes go on.
    store = Store.open(sb.state_db_url)
    try:
        until = dt.datetime.fromisoformat(store.github_facts.read()["backoff_until"])
        # 30 s after GitHub answered (whole seconds), however slow this machine is today.
        wait = dt.timedelta(seconds=30)
        assert asked_from + wait - dt.timedelta(seconds=1) <= until <= asked_by + wait
        store.github_facts.write({"backoff_until": (until - dt.timedelta(seconds=31)).isoformat()}, until)
    finally:
        store.close()
    out = run_cli(sb, "reconcile")
    assert out.returncode == EXIT_OK, out.stderr
    assert "GitHub:" in run_cli(sb, "status").stdout


@pytest.fixture
def app_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(root=tmp_path / "world", hosts=2, first_host=LOCAL_FIRST_HOST, github_app=True).start()
    yield sb
    sb.stop()


def test_app_auth_reports_check_runs_and_keeps_its_token_between_passes(app_sandbox: Sandbox) -> None:
    sb = app_sandbox
    sim = sb.github
    a, sha_a = sb.open_pr("a", "hello a")
    sb.open_pr("b", "hello b")
    _, sha_c = sb.open_pr("c", "hello c")
    _, sha_d = sb.open_pr("d", "draft", draft=True)
    ok_pass(sb)

    def runs(sha: str, name: str = "pullrekun") -> list[dict[str, Any]]:
        return [r for r in sim.check_runs_for(sha) if r["name"] == name]

    (run_a,) = runs(sha_a)
    assert (run_a["name"], run_a["status"], run_a["conclusion"]) == ("pullrekun", "completed", "success")
    (signoff_a,) = runs(sha_a, "pullrekun/verified")
    assert (signoff_a["status"], signoff_a["output"]["title"]) == (
        "queued",
        f"Not yet verified at {sha_a[:7]}",
    )
    assert run_a["details_url"].startswith("http://127.0.0.")
    (run_c,) = runs(sha_c)
    assert run_c["status"] == "queued"
    assert "1st in line, 2 instances busy" in run_c["output"]["title"]
    (run_d,) = runs(sha_d)
    assert run_d["conclusion"] == "neutral"
    assert "draft" in run_d["output"]["title"]
    assert sim.statuses == {}  # an App reports check runs, not commit statuses
    tokens = [s for s in sim.served if s.route.startswith("/app/")]
    assert len(tokens) == 1
    assert tokens[0].status == 201

    sim.close(a)
    ok_pass(sb)
    runs_c = runs(sha_c)
    assert len(runs_c) == 1
    assert runs_c[0]["conclusion"] == "success"
    before = sim.counters()
    ok_pass(sb)
    ok_pass(sb)
    assert sim.counters()["counted"] - before["counted"] <= 1  # at most the list after the comment edit
    assert len([s for s in sim.served if s.route.startswith("/app/")]) == 1  # same token
    check_openapi(sim)


def test_chat_notifications_say_ready_and_failed_once_and_verify_publish_off_is_off(
    local_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = local_sandbox
    hook = Receiver()
    monkeypatch.setenv("SLACK_HOOK", hook.url("/slack"))
    monkeypatch.setenv("GCHAT_HOOK", hook.url("/chat"))
    sb.health_timeout = 3
    sb.extra_config = {
        "report": {"slack_webhook_env": "SLACK_HOOK", "google_chat_webhook_env": "GCHAT_HOOK"},
        "verify": {"publish": False},
    }
    sb.write_config()
    _, good = sb.open_pr("good", "hello", title="Fix <!channel> & <users/all> @here")
    bad, _ = sb.open_pr("bad", "crash on start")
    run_pass(sb)
    run_pass(sb)  # the failed one is retried and fails again: no second message
    texts = {(p["path"].split("?")[0], p["text"].split(" for PR #")[0]) for p in hook.posts}
    assert texts == {
        ("/slack", "Preview ready"),
        ("/slack", "Preview failed"),
        ("/chat", "Preview ready"),
        ("/chat", "Preview failed"),
    }
    assert len(hook.posts) == 4
    ready = next(p["text"] for p in hook.posts if p["text"].startswith("Preview ready"))
    assert "&lt;!channel&gt; &amp; &lt;users/all&gt;" in ready
    assert "<!channel>" not in ready
    failed = next(p["text"] for p in hook.posts if p["text"].startswith("Preview failed"))
    assert "health check step failed" in failed
    assert f"/pull/{bad}" in failed
    hook.server.shutdown()
    assert sb.github.status_states(good, "pullrekun")[-1][0] == "success"
    assert sb.github.status_states(good, "pullrekun/verified") == [], "verify.publish = false"


def test_a_failing_webhook_is_tried_once_per_pass_and_catches_up_later(
    local_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = local_sandbox
    hook = Receiver()
    hook.status = 502
    monkeypatch.setenv("SLACK_HOOK", hook.url("/slack"))
    sb.extra_config = {"report": {"slack_webhook_env": "SLACK_HOOK"}}
    sb.write_config()
    for i in range(3):
        sb.open_pr(f"w{i}", f"hello {i}")
    run_pass(sb)
    assert len(hook.posts) == 1, "a failing webhook is not tried again for every PR in the same pass"
    hook.status = 200
    run_pass(sb)
    assert len(hook.posts) == 1 + 3, "the next pass sends what was not sent"
    run_pass(sb)
    assert len(hook.posts) == 4, "and nothing twice"
    hook.server.shutdown()


def test_a_template_that_fails_to_render_loses_no_work(local_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = local_sandbox
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "comment.md.j2").write_text("{{ marker }}\n{{ no_such_variable }}\n")
    sb.extra_config = {"report": {"templates_dir": str(overrides)}}
    sb.write_config()
    number, sha = sb.open_pr("t", "hello")
    result = run_pass(sb)
    assert result.outcome is PassOutcome.CLEAN
    assert result.report is not None
    assert "no_such_variable" in result.report.problem
    assert any(sb.served(a) == sha for a in sb.host_addrs)
    assert sb.github.comments_on(number) == []
    (overrides / "comment.md.j2").write_text("{{ marker }}\nOurs: {{ view.detail }}\n")
    ok_pass(sb)
    assert [c["body"] for c in sb.github.comments_on(number)] == [f"{COMMENT_MARKER}\nOurs: ready\n"]
