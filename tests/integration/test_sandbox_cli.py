"""The README's first command, and the CLI's outputs and exit codes on the local sandbox."""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import run_cli, run_pass, status_of, valid_status
from tests.paths import REPO


def cli_environments(sb: Sandbox) -> list[dict[str, Any]]:
    """The environments `pullrekun status --json` prints (checked against the published schema)."""
    environments: list[dict[str, Any]] = valid_status(json.loads(run_cli(sb, "status", "--json").stdout))[
        "environments"
    ]
    return environments


def test_the_sandbox_command_runs_the_whole_loop_then_serves_webhooks(tmp_path: Path) -> None:
    """`pullrekun sandbox --launch --serve`: the demo (with launches from a launch template and
    scale-in), then `pullrekun serve` taking the simulator's webhooks (a push goes live with no
    timer pass), until SIGTERM ends it cleanly."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pullrekun", "sandbox", "--launch", "--serve", "--dir", str(tmp_path / "sb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("serving; press Ctrl-C") or line.startswith("sandbox: FAILED"):
                break
        out = "\n".join(lines)
        assert "sandbox: every open PR serves its head commit" in out, out[-4000:]
        checks = [line for line in lines if line.strip().startswith("[")]
        assert len(checks) == 3
        assert all("[ok ]" in line for line in checks)
        launched = [line for line in lines if line.startswith("  launched i-")]
        assert len(launched) == 2, out[-4000:]
        assert all("serves nothing" not in line for line in launched)
        assert "  launched instances left: 0" in lines
        assert lines[-1].startswith("serving; press Ctrl-C"), out[-4000:]
        (serve_line,) = [line for line in lines if line.startswith("  serve: http://")]
        url = serve_line.split()[1]
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as resp:
            health = json.loads(resp.read())
        assert health["status"] == "ok"
        assert health["last_pass"]["reason"] == "webhook", health
        assert any("after the webhook" in line and "served it" in line for line in lines), out[-2000:]
        # The dashboard, with the admin login the sandbox printed.
        (dash_line,) = [line for line in lines if line.startswith("  dashboard: http://")]
        password = dash_line.rsplit(" ", 1)[1]
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{url}/login", timeout=10) as resp:
            token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode())
        assert token is not None
        form = urllib.parse.urlencode({"login": "admin", "password": password, "csrf_token": token.group(1)})
        with opener.open(f"{url}/login", data=form.encode(), timeout=10) as resp:
            page = resp.read().decode()  # the redirect to / is followed
        assert "<h1>Environments</h1>" in page
        assert page.count("<tr data-pr=") == 3
        # And "Sign in with GitHub" through the simulator, as the line under it says.
        assert any("'maintainer' may act" in line for line in lines)
        github = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with github.open(f"{url}/auth/github/start", timeout=10) as resp:
            authorize, authorize_url = resp.read().decode(), resp.url
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', authorize))
        fields["login"] = "maintainer"
        site = authorize_url.split("/login/oauth/", 1)[0]
        granted = urllib.parse.urlencode({k: html.unescape(v) for k, v in fields.items()}).encode()
        with github.open(f"{site}/login/oauth/authorize", data=granted, timeout=10) as resp:
            assert "maintainer (admin)" in resp.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest = proc.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            rest = proc.communicate()[0]
    assert proc.returncode == 0, rest[-3000:]


def test_plan_and_status_as_json(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, sha = sb.open_pr("j1", "json one")
    plan = json.loads(run_cli(sb, "plan", "--json").stdout)
    types = [a["type"] for a in plan["actions"]]
    assert types == ["Assign", "StartInstance", "Deploy", "TagInstance"]
    assert plan["actions"][2]["sha"] == sha
    before = valid_status(json.loads(run_cli(sb, "status", "--json").stdout))
    assert before["environments"] == [], "plan changes nothing"
    assert [i["pr"] for i in before["instances"]] == [None, None, None]
    assert run_cli(sb, "reconcile").returncode == 0
    (env,) = cli_environments(sb)
    assert (env["pr"], env["sha"], env["status"], env["instance_state"]) == (
        number,
        sha,
        "ready",
        "running",
    )
    assert env["url"] == f"http://{sb.addr_of(env['instance_id'])}:{sb.app_port}/"
    assert sb.served(sb.addr_of(env["instance_id"])) == sha
    table = run_cli(sb, "status").stdout
    assert f"#{number}" in table
    assert sha[:12] in table
    assert "queue: empty" in table

    # The artifacts of the run hold the plan that was applied.
    (run_dir,) = [p for p in (sb.root / "artifacts").iterdir() if (p / "plan.json").exists()]
    applied = json.loads((run_dir / "plan.json").read_text())
    assert [a["type"] for a in applied["actions"]] == types


def test_redeploying_the_same_commit_changes_nothing(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("same", "same")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    root = sb.deploy_root(sb.addr_of(env["instance_id"]))
    pid = (root / "shared" / "app.pid").read_text()
    # Forget the deploy in the state DB: the next pass deploys the same sha again.
    from pullrekun.adapters.state.store import Store

    store = Store.open(sb.state_db_url)
    try:
        with store.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("UPDATE assignments SET status = 'deploying'"))
    finally:
        store.close()
    assert run_pass(sb).ok
    runs = sorted(p for p in (sb.root / "artifacts").iterdir() if (p / "plan.json").exists())
    stdout = next((runs[-1] / "artifacts").iterdir()) / "stdout"
    recap = [ln for ln in stdout.read_text().splitlines() if ln.startswith(env["instance_id"])]
    assert len(recap) == 1, recap
    assert "changed=0" in recap[0], recap
    assert (root / "shared" / "app.pid").read_text() == pid, "the app was not restarted"


def test_a_host_whose_app_never_gets_healthy_fails_at_the_health_check_step(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.extra_config = {"app": {"command": "/bin/false", "health_timeout": 2}}
    sb.write_config()
    sb.open_pr("sick", "sick")
    out = run_cli(sb, "reconcile")
    assert out.returncode == 1
    (env,) = cli_environments(sb)
    assert env["status"] == "failed"
    assert env["failed_step"] == "health check"  # from the task's step tag
    assert env["failed_task"] == "Prove the app answers as this release."
    assert "health check failed" in env["message"]
    assert "Connection refused" in env["message"]


def test_a_vanished_instance_requeues_its_pr_onto_another_instance(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, sha = sb.open_pr("v1", "vanishing")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    sb.stop_apps()
    sb.ec2().terminate_instances(InstanceIds=[env["instance_id"]])
    assert run_pass(sb).ok
    (moved,) = status_of(sb)["environments"]
    assert moved["instance_id"] != env["instance_id"]
    assert (moved["pr"], moved["status"]) == (number, "ready")
    assert sb.served(sb.addr_of(moved["instance_id"])) == sha

    from pullrekun.adapters.state.store import Store

    store = Store.open(sb.state_db_url)
    try:
        kinds = [(e.kind, e.pr_number, e.message) for e in store.events.recent()]
    finally:
        store.close()
    assert ("unassigned", number, "instance left the pool; PR requeued") in kinds


def test_the_run_directory_replays_with_ansible_playbook(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("r1", "replay")
    assert run_pass(sb).ok
    (run_dir,) = [p for p in (sb.root / "artifacts").iterdir() if (p / "plan.json").exists()]
    assert json.loads((run_dir / "extravars.json").read_text())["pullrekun_ec2_endpoint_url"] == sb.ec2_url
    from pullrekun.adapters.playbook.settings import ansible_env

    env = {**os.environ, **ansible_env(REPO, sb.root / "artifacts", 5, "")}
    out = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(run_dir / "inventory"),
            str(REPO / "playbooks/reconcile.yml"),
            "-e",
            f"@{run_dir / 'extravars.json'}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    recap = [ln for ln in out.stdout.splitlines() if ln.startswith("i-")]
    assert recap
    assert all("failed=0" in ln for ln in recap)


def test_the_before_switch_hook_runs_in_the_new_release_before_it_goes_live(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    hook = sb.root / "hook.yml"
    # The hook sees the release directory and whether `current` already points at it.
    hook.write_text(
        "- name: Record what the hook saw.\n"
        "  ansible.builtin.shell:\n"
        "    cmd: readlink current > {{ __staging_release_dir }}/HOOK_SAW_CURRENT || true\n"
        "    chdir: '{{ staging_deploy_root }}'\n"
        "  changed_when: true\n"
    )
    sb.extra_config = {"app": {"before_switch_hook": str(hook)}}
    sb.write_config()
    number, first = sb.open_pr("h1", "hooked")
    assert run_pass(sb).ok
    second = sb.commit("h1", "hooked again")
    sb.github.push(number, second)
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    root = sb.deploy_root(sb.addr_of(env["instance_id"]))
    saw = (root / "releases" / second / "HOOK_SAW_CURRENT").read_text().strip()
    assert saw == str(root / "releases" / first), "the hook ran while the previous release was live"
    assert os.readlink(root / "current") == str(root / "releases" / second)
    assert sb.served(sb.addr_of(env["instance_id"])) == second
