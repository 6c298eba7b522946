"""What the app is told of its PR: PULLREKUN_PR, PULLREKUN_SHA and PULLREKUN_PR_URL in
shared/app.env (validated values only: no title, no branch), read back by the sandbox's app."""

from __future__ import annotations

import urllib.request

from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import run_pass, status_of


def test_the_app_reads_its_pr_its_commit_and_the_prs_link(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, head = sb.open_pr("feat-banner", "a banner", title="$(reboot) `x` ${HOME}")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    addr = sb.addr_of(env["instance_id"])
    env_file = (sb.deploy_root(addr) / "shared" / "app.env").read_text()
    url = f"/pull/{number}"
    assert f"PULLREKUN_PR={number}\n" in env_file
    assert f"PULLREKUN_SHA={head}\n" in env_file
    assert "PULLREKUN_PR_URL=" in env_file
    assert url in env_file
    assert "reboot" not in env_file, "no title"
    assert "feat-banner" not in env_file, "no branch"
    with urllib.request.urlopen(f"http://{addr}:{sb.app_port}/", timeout=5) as resp:
        page = resp.read().decode()
    assert f"preview: PR #{number} at {head[:7]} (" in page, page
