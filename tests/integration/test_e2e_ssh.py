"""End to end over the real parts: moto EC2, the GitHub simulator, sshd hosts, MariaDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from pullrekun_sandbox.github_sim import Fault
from pullrekun_sandbox.sandbox import Sandbox
from pullrekun_sandbox.sshd import SshdHosts
from sqlalchemy import text

from pullrekun.adapters.state.lock import mysql_lock_name, pass_lock
from pullrekun.adapters.state.store import Store
from tests.conftest import run_cli, run_pass, status_of

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


def test_a_login_to_a_test_host_runs_no_shell_start_up_file(sshd_hosts: SshdHosts) -> None:
    # As on a staging host: this machine's ~/.bashrc (which bash sources for ssh commands) would
    # cost every task of every run its CPU, and make the hosts differ from one machine to another.
    out = sshd_hosts.ssh(sshd_hosts.addrs[0], 'echo "$HOME"; ls -A ~')
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(sshd_hosts.home)]


def status(sb: Sandbox) -> dict[str, Any]:
    return status_of(sb)


def envs_by_pr(sb: Sandbox) -> dict[int, dict[str, Any]]:
    return {s["pr"]: s for s in status(sb)["environments"] if s["pr"] is not None}


def reconcile_ok(sb: Sandbox) -> None:
    result = run_pass(sb)
    assert result.ok, (result.problem, result.outcomes)


def app_pid(sb: Sandbox, addr: str) -> str:
    return (sb.deploy_root(addr) / "shared" / "app.pid").read_text().strip()


def test_open_push_close_with_three_instances_and_five_prs(ssh_sandbox: Sandbox) -> None:
    sb = ssh_sandbox
    heads = dict(sb.open_pr(f"f{i}", f"greeting {i}") for i in range(1, 6))
    reconcile_ok(sb)

    envs = envs_by_pr(sb)
    assert sorted(envs) == [1, 2, 3], "the three oldest PRs get the three instances"
    for pr, env in envs.items():
        addr = sb.addr_of(env["instance_id"])
        assert env["status"] == "ready"
        assert sb.served(addr) == heads[pr]
        assert sb.instance_tags(env["instance_id"])["pullrekun:sha"] == heads[pr]
        assert sb.instance_tags(env["instance_id"])["pullrekun:pr"] == str(pr)
        # The health check and the redact wrapper run with the host's Python as Ansible found it
        # (the config's remote_python), isolated from PYTHON* variables and site packages.
        for script in ("healthcheck", "redact"):
            first = (sb.deploy_root(addr) / "shared" / script).read_text().splitlines()[0]
            assert first == "#!/usr/bin/python3 -IS", (script, first)
    assert [(q["pr"], q["position"]) for q in status(sb)["queue"]] == [(4, 1), (5, 2)]

    # A push redeploys that environment only.
    addrs = {pr: sb.addr_of(s["instance_id"]) for pr, s in envs.items()}
    pids_before = {pr: app_pid(sb, a) for pr, a in addrs.items()}
    heads[2] = sb.commit("f2", "greeting 2, pushed")
    sb.github.push(2, heads[2])
    reconcile_ok(sb)
    assert sb.served(addrs[2]) == heads[2]
    assert app_pid(sb, addrs[2]) != pids_before[2]
    for pr in (1, 3):
        assert sb.served(addrs[pr]) == heads[pr]
        assert app_pid(sb, addrs[pr]) == pids_before[pr], f"PR {pr} was touched by PR 2's push"

    # Closing PR 1 hands its instance to the oldest queued PR in the same pass.
    sb.github.close(1)
    reconcile_ok(sb)
    envs = envs_by_pr(sb)
    assert sorted(envs) == [2, 3, 4]
    assert envs[4]["instance_id"] != envs[2]["instance_id"]
    assert sb.served(sb.addr_of(envs[4]["instance_id"])) == heads[4]

    # Closing two more: PR 5 takes one instance, the other instance is stopped, its app too.
    sb.github.close(2)
    sb.github.close(3)
    freed = {envs[2]["instance_id"], envs[3]["instance_id"]}
    reconcile_ok(sb)
    envs = envs_by_pr(sb)
    assert sorted(envs) == [4, 5]
    (stopped,) = freed - {envs[5]["instance_id"]}
    assert sb.instance_state(stopped) == "stopped"
    assert "pullrekun:pr" not in sb.instance_tags(stopped)
    assert sb.served(sb.addr_of(stopped)) is None, "the app of a closed PR is stopped"
    assert sb.served(sb.addr_of(envs[5]["instance_id"])) == heads[5]

    # Our comment edits moved the PRs' updated_at: one pass re-reads that list page and
    # sends nothing. After it nothing changed: a pass has nothing to do, GitHub answers 304.
    writes = len(sb.github.writes())
    reconcile_ok(sb)
    assert len(sb.github.writes()) == writes
    before = sb.github.counters()
    out = run_cli(sb, "plan", "--json")
    assert json.loads(out.stdout)["actions"] == []
    after = sb.github.counters()
    assert after["counted"] == before["counted"]
    assert after["not_modified"] > before["not_modified"]


def test_one_unreachable_host_fails_only_its_environment(ssh_sandbox: Sandbox) -> None:
    sb = ssh_sandbox
    sb.extra_config = {"ansible": {"boot_timeout": 3}}  # no need to wait 30 s for what never answers
    sb.write_config()
    ec2 = sb.ec2()
    # Nothing listens on 127.0.0.99: this instance's host is unreachable.
    ec2.create_tags(
        Resources=[sb.instance_ids[0]], Tags=[{"Key": "pullrekun:ansible_host", "Value": "127.0.0.99"}]
    )
    heads = dict(sb.open_pr(f"u{i}", f"u {i}") for i in range(1, 4))
    out = run_cli(sb, "reconcile")
    assert out.returncode == 1, out.stdout + out.stderr
    envs = envs_by_pr(sb)
    bad = [s for s in envs.values() if s["instance_id"] == sb.instance_ids[0]]
    assert len(bad) == 1
    assert bad[0]["status"] == "failed"
    assert bad[0]["failed_step"] == "start", "a host that does not answer fails at the start step"
    assert "127.0.0.99" in (bad[0]["message"] or ""), "the failure names the host it could not reach"
    good = [pr for pr, s in envs.items() if s["instance_id"] != sb.instance_ids[0]]
    assert len(good) == 2
    for pr in good:
        assert envs[pr]["status"] == "ready"
        assert sb.served(sb.addr_of(envs[pr]["instance_id"])) == heads[pr]

    # The host comes back: the next pass retries the failed environment only.
    ec2.create_tags(
        Resources=[sb.instance_ids[0]], Tags=[{"Key": "pullrekun:ansible_host", "Value": sb.host_addrs[0]}]
    )
    reconcile_ok(sb)
    assert {s["status"] for s in envs_by_pr(sb).values()} == {"ready"}


def test_a_second_pass_while_one_holds_the_lock_exits_3(ssh_sandbox: Sandbox) -> None:
    sb = ssh_sandbox
    sb.open_pr("l1", "l 1")
    store = Store.open(sb.state_db_url)
    try:
        with pass_lock(store.engine):
            out = run_cli(sb, "reconcile")
            assert out.returncode == 3, out.stderr
            assert "another pass" in out.stderr
            assert envs_by_pr(sb) == {}, "the locked-out pass did nothing"
    finally:
        store.close()
    # A second pass while a first one runs: it exits 3 at once; the first finishes its work.
    cmd = [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "reconcile"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = Store.open(sb.state_db_url)
    try:
        with store.engine.connect() as conn:  # wait until the first pass holds the lock
            name = mysql_lock_name(store.engine)
            while conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar() is None:
                assert first.poll() is None, first.communicate()
                conn.execute(text("DO SLEEP(0.02)"))
    finally:
        store.close()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    first.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 3), second.stderr


def test_github_failing_mid_life_tears_nothing_down(ssh_sandbox: Sandbox) -> None:
    sb = ssh_sandbox
    heads = dict(sb.open_pr(f"g{i}", f"g {i}") for i in range(1, 3))
    reconcile_ok(sb)
    before = envs_by_pr(sb)
    for status_code in (502, 403):
        sb.github.inject(
            Fault(
                status_code,
                times=10,
                path_prefix="/repos/",
                headers={"Retry-After": "0"} if status_code == 403 else {},
                message="API rate limit exceeded" if status_code == 403 else "Bad Gateway",
            )
        )
        out = run_cli(sb, "reconcile")
        assert out.returncode == 1
        assert "nothing changed" in out.stderr
        sb.github.faults.clear()
        assert envs_by_pr(sb).keys() == before.keys()
        for pr, env in before.items():
            assert sb.instance_state(env["instance_id"]) == "running"
            assert sb.served(sb.addr_of(env["instance_id"])) == heads[pr]


def test_dynamic_inventory_reaches_an_environment_by_pr_group(ssh_sandbox: Sandbox) -> None:
    """`ansible -i inventory/aws_ec2.yml pr_<n> ...` talks to that PR's host."""
    sb = ssh_sandbox
    number, sha = sb.open_pr("inv", "inventory")
    reconcile_ok(sb)
    held = envs_by_pr(sb)[number]
    root = sb.deploy_root(sb.addr_of(held["instance_id"]))
    assert sb.ssh is not None
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": sb.ec2_url,
        "AWS_REGION": "us-east-1",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
    }
    graph = subprocess.run(
        ["ansible-inventory", "-i", "inventory/aws_ec2.yml", "--graph"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"@pr_{number}:" in graph.stdout
    assert "@pool_default:" in graph.stdout
    out = subprocess.run(
        [
            "ansible",
            "-i",
            "inventory/aws_ec2.yml",
            f"pr_{number}",
            "-u",
            sb.ssh.user,
            "--private-key",
            sb.ssh.private_key,
            "--ssh-common-args=-o UserKnownHostsFile=/dev/null",  # an ad hoc command of the test
            "-m",
            "ansible.builtin.command",
            "-a",
            f"cat {root}/current/REVISION",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert sha in out.stdout
