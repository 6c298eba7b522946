"""README promises that had no test that would fail if they broke, one test each.

Run against the local sandbox (GitHub simulator, moto, three local hosts, SQLite state), passes
in this process unless the exit code or the printed line is the subject.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
from pathlib import Path

import pytest
from pullrekun_sandbox.github_sim import Fault
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, RateLimited
from pullrekun.adapters.state.store import Store
from pullrekun.app.results import PassOutcome
from pullrekun.cli import EXIT_FAILURES
from pullrekun.config.secrets import github_token
from tests.conftest import LOCAL_FIRST_HOST, run_cli, run_pass, status_of

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


def _events(sb: Sandbox) -> list[tuple[str, int | None, str]]:
    store = Store.open(sb.state_db_url)
    try:
        return [(e.kind, e.pr_number, e.message) for e in store.events.recent(200)]
    finally:
        store.close()


def _runs(sb: Sandbox) -> list[Path]:
    return sorted(p for p in (sb.root / "artifacts").iterdir() if (p / "plan.json").is_file())


def test_an_unreadable_ec2_ends_the_pass_with_exit_1_and_nothing_changed(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("e1", "ec2 down")
    sb.extra_config = {"ec2": {"endpoint_url": "http://127.0.0.1:9"}}  # nothing listens on port 9
    sb.write_config()
    out = run_cli(sb, "reconcile")
    assert out.returncode == EXIT_FAILURES, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip().splitlines()[0]], "one line"
    assert out.stderr.startswith("pullrekun: EC2: describe_instances failed")
    assert out.stderr.strip().endswith("nothing changed")
    assert sb.github.writes() == [], "nothing was reported"
    sb.extra_config = {}
    sb.write_config()
    assert [s for s in status_of(sb)["environments"] if s["pr"] is not None] == []
    assert all(sb.instance_state(i) == "stopped" for i in sb.instance_ids)
    assert not (sb.root / "artifacts").exists() or _runs(sb) == [], "no playbook ran"


def test_a_refused_report_item_is_logged_and_the_others_still_go(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    refused, refused_sha = sb.open_pr("r1", "refused")
    _, fine_sha = sb.open_pr("r2", "fine")
    repo = sb.github.repository
    sb.github.inject(
        Fault(422, times=100, method="POST", path_prefix=f"/repos/{repo}/statuses/{refused_sha}")
    )
    result = run_pass(sb)
    assert result.outcome is PassOutcome.CLEAN
    assert sb.github.status_states(refused_sha) == []
    assert sb.github.status_states(fine_sha)[-1][0] == "success"
    assert sb.github.comments_on(refused), "the refused PR's other channels still went"
    refusals = [e for e in _events(sb) if e[0] == "report_refused"]
    assert refusals
    assert all(refused_sha in message and "422" in message for _, _, message in refusals)


def test_reports_pause_when_the_rate_limit_reserve_is_reached(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    _, sha = sb.open_pr("q1", "reserve")
    sb.extra_config = {"github": {"rate_reserve": 4999}}  # the simulator's limit is 5000
    sb.write_config()
    result = run_pass(sb)
    assert result.report is not None
    assert "reports wait for the limit to reset" in result.report.problem
    assert sb.github.writes() == []
    assert any(sb.served(a) == sha for a in sb.host_addrs), "deployed all the same"
    sb.extra_config = {}
    sb.write_config()
    result = run_pass(sb)
    assert result.report is not None
    assert result.report.problem == ""
    assert sb.github.status_states(sha)[-1][0] == "success"


def test_writes_are_spaced_by_write_interval_ms(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("s1", "spaced")
    sb.open_pr("s2", "spaced too")
    sb.extra_config = {"github": {"write_interval_ms": 300}}
    sb.write_config()
    run_pass(sb)
    times = [s.at for s in sb.github.served if s.method != "GET"]
    assert len(times) >= 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # A lower bound, so a slow machine cannot fail it; no spacing at all would.
    assert min(gaps) >= 0.28, gaps


def test_a_release_that_never_went_live_is_removed(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    hook = sb.root / "hook.yml"
    hook.write_text(
        "- name: Refuse releases whose greeting says so.\n"
        "  ansible.builtin.command:\n"
        "    cmd: grep -qv 'fail the hook' GREETING\n"
        "    chdir: '{{ __staging_release_dir }}'\n"
        "  changed_when: false\n"
    )
    sb.extra_config = {"app": {"before_switch_hook": str(hook)}}
    sb.write_config()
    number, good = sb.open_pr("n1", "good")
    assert run_pass(sb).outcome is PassOutcome.CLEAN
    bad = sb.commit("n1", "fail the hook")
    sb.github.push(number, bad)
    result = run_pass(sb)
    assert result.outcome is PassOutcome.FAILURES
    (env,) = [s for s in status_of(sb)["environments"] if s["pr"] == number]
    root = sb.deploy_root(sb.addr_of(env["instance_id"]))
    assert not (root / "releases" / bad).exists()
    assert os.readlink(root / "current") == str(root / "releases" / good)
    assert sb.served(sb.addr_of(env["instance_id"])) == good
    assert env["failed_task"] == "Refuse releases whose greeting says so."
    assert env["failed_step"] == "checkout", "a before-switch hook fails the checkout step"


def test_the_cached_clone_is_used_when_it_has_the_commit(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, sha = sb.open_pr("c1", "cached")
    assert run_pass(sb).outcome is PassOutcome.CLEAN
    (env,) = [s for s in status_of(sb)["environments"] if s["pr"] == number]
    root = sb.deploy_root(sb.addr_of(env["instance_id"]))
    # The release is lost and the origin is unreachable: only the cached clone can help.
    shutil.rmtree(root / "releases" / sha)
    (root / "current").unlink()
    sb.remote.rename(sb.remote.with_name("gone.git"))
    store = Store.open(sb.state_db_url)
    try:
        with store.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("UPDATE assignments SET status = 'deploying'"))
    finally:
        store.close()
    assert run_pass(sb).outcome is PassOutcome.CLEAN
    assert sb.served(sb.addr_of(env["instance_id"])) == sha
    (events,) = [
        json.loads(p.read_text())
        for p in (_runs(sb)[-1] / "artifacts").glob("*/job_events/*.json")
        if "staging_release" in p.read_text() and '"runner_on_ok"' in p.read_text()
    ]
    assert events["event_data"]["res"]["fetched"] is False
    assert events["event_data"]["res"]["created"] is True


def test_old_run_directories_are_pruned_to_keep_artifacts(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.extra_config = {"ansible": {"keep_artifacts": 2}}
    sb.write_config()
    # Three earlier passes' run directories (ids sort by time; the day is long past).
    old = [sb.root / "artifacts" / f"20260101T00000{i}.000000-0000000{i}" for i in range(3)]
    for run in old:
        run.mkdir(parents=True)
        (run / "plan.json").write_text('{"actions": []}')
    number, _ = sb.open_pr("k1", "keep 0")
    assert run_pass(sb).outcome is PassOutcome.CLEAN
    runs = _runs(sb)
    assert runs[0] == old[-1], "the newest earlier run is kept, the two before it go"
    assert len(runs) == 2
    newest = json.loads((runs[-1] / "plan.json").read_text())
    assert newest["actions"][-1]["sha"] == sb.github.prs[number].head_sha


def test_no_secret_is_on_the_playbooks_command_line(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("p1", "argv")
    run_pass(sb)
    (command_file,) = (_runs(sb)[-1] / "artifacts").glob("*/command")
    argv = json.loads(command_file.read_text())["command"]
    assert "pullrekun.adapters.playbook.playbook_cli" in argv, "ansible-playbook, as the guard runs it"
    secrets = [os.environ["PULLREKUN_GITHUB_TOKEN"], os.environ["AWS_SECRET_ACCESS_KEY"]]
    assert all(secret not in arg for arg in argv for secret in secrets), argv


def test_the_app_token_is_renewed_five_minutes_before_it_expires(tmp_path: Path) -> None:
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST, github_app=True).start()
    try:
        cfg = config_mod.load(sb.config_path)
        store = Store.open(cfg.state_url)
        tokens = [s for s in sb.github.served if s.route.startswith("/app/")]
        try:
            now = dt.datetime.now(dt.UTC)
            GitHubClient(cfg.github, None, store.github_facts, lambda: now)
            issued = [s for s in sb.github.served if s.route.startswith("/app/")]
            assert len(issued) == len(tokens) + 1
            expires = dt.datetime.fromisoformat(store.github_facts.read()["app_token_expires"])
            # Six minutes before expiry the cached token is used; four minutes before, renewed.
            GitHubClient(cfg.github, None, store.github_facts, lambda: expires - dt.timedelta(minutes=6))
            assert len([s for s in sb.github.served if s.route.startswith("/app/")]) == len(issued)
            GitHubClient(cfg.github, None, store.github_facts, lambda: expires - dt.timedelta(minutes=4))
            assert len([s for s in sb.github.served if s.route.startswith("/app/")]) == len(issued) + 1
        finally:
            store.close()
    finally:
        sb.stop()


def test_a_back_off_makes_the_rest_of_the_pass_send_nothing(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        client = GitHubClient(
            cfg.github, github_token(cfg), store.github_facts, lambda: dt.datetime.now(dt.UTC)
        )
        sb.github.inject(Fault(429, times=1, headers={"Retry-After": "600"}, message="slow down"))
        repo = f"/repos/{cfg.github.repository}"
        try:
            client.request("GET", repo)
        except RateLimited:
            pass
        else:
            raise AssertionError("a 429 asking for 600 s was not a back-off")
        served = len(sb.github.served)
        for _ in range(3):
            try:
                client.request("POST", f"{repo}/statuses/{'a' * 40}", body={"state": "pending"})
            except RateLimited:
                continue
            raise AssertionError("a request went out during the back-off")
        assert len(sb.github.served) == served
    finally:
        store.close()


def test_a_pass_sends_nothing_to_github_once_its_budget_is_spent(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.extra_config = {"github": {"budget": 30}}
    sb.write_config()
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        now = [dt.datetime.now(dt.UTC)]
        client = GitHubClient(cfg.github, github_token(cfg), store.github_facts, lambda: now[0])
        repo = f"/repos/{cfg.github.repository}"
        assert client.request("GET", repo)[0] == 200
        served = len(sb.github.served)
        now[0] += dt.timedelta(seconds=31)
        with pytest.raises(GitHubUnavailable, match="spent its 30 s of GitHub time"):
            client.request("GET", repo)
        assert len(sb.github.served) == served
    finally:
        store.close()


def test_a_pass_reads_no_ansible_cfg(
    local_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run points ANSIBLE_CONFIG at an empty file of its own: an ansible.cfg the controller's
    environment names (or a checkout's) changes nothing, even a broken one."""
    sb = local_sandbox
    broken = tmp_path / "ansible.cfg"
    broken.write_text("[defaults]\nstrategy = no_such_strategy\n")  # no play runs with this
    monkeypatch.setenv("ANSIBLE_CONFIG", str(broken))
    number, sha = sb.open_pr("cfg", "no ansible.cfg read")
    result = run_pass(sb)
    assert result.ok, (result.problem, result.outcomes)
    (env,) = [e for e in status_of(sb)["environments"] if e["pr"] == number]
    assert sb.served(sb.addr_of(env["instance_id"])) == sha
