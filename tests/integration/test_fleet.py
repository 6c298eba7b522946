"""The fleet looks after itself: launches from a launch template (moto's EC2 server, loopback
hosts the sandbox's allocator gives), bootstrapped and deployed in the pass that launched them,
failing launches said once, replaced after untrusted code, scaled in."""

from __future__ import annotations

import datetime as dt

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.core import tags as tag
from pullrekun.core.fleet import LaunchInstance, TerminateInstance
from tests.conftest import run_pass, status_of
from tests.integration.fleet_helpers import events, pass_at

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


def test_queued_prs_get_launched_bootstrapped_and_deployed_in_one_pass_then_scale_in(
    fleet_sandbox: Sandbox,
) -> None:
    sb = fleet_sandbox
    opened = [sb.open_pr(f"f{i}", f"hello {i}") for i in range(5)]
    result = run_pass(sb)
    assert result.ok, (result.problem, result.outcomes)
    assert [o.ok for o in result.launches] == [True, True]
    launched = sb.launched()
    assert len(launched) == 2
    assert set(launched.values()) == {"running"}
    for iid in launched:
        tags = sb.instance_tags(iid)
        assert tags[tag.MANAGED] == "true"
        assert tags[tag.POOL] == "default"
        assert tags["team"] == "sandbox", "the launch template's own tags are kept"
        assert tags[tag.LAUNCH] in {o.token for o in result.launches}
    # Four PRs served, each at its head; the fifth waits, first in line.
    served = {sb.served(sb.addr_of(iid)) for iid in [*sb.instance_ids, *launched]}
    assert served == {sha for _, sha in opened[:4]}
    _fifth, fifth_sha = opened[4]
    assert sb.github.status_states(fifth_sha)[-1] == (
        "pending",
        "Preview queued: 1st in line, 4 instances busy",
    )
    assert len(events(sb, "bootstrapped")) == 2
    snap = status_of(sb)
    assert {i["instance_id"] for i in snap["instances"] if i["managed"]} == set(launched)
    assert {launch["state"] for launch in snap["fleet"]["launches"]} == {"running"}
    assert all(launch["bootstrapped_at"] for launch in snap["fleet"]["launches"])

    # Nothing more to launch: the pool is at max_size.
    again = run_pass(sb)
    assert again.ok
    assert again.launches == ()
    assert again.plan is not None
    assert again.plan.empty
    assert len(sb.launched()) == 2

    # The queue drains; an hour later the launched instances go, never the hand-tagged ones.
    for number, _ in opened:
        sb.github.close(number)
    assert run_pass(sb).ok
    assert set(sb.launched().values()) == {"stopped"}
    early = pass_at(sb, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30))
    assert early.ok
    assert early.plan is not None
    assert early.plan.of_type(TerminateInstance) == ()
    later = pass_at(sb, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    assert later.ok, later.problem
    assert later.plan is not None
    assert sorted(t.instance_id for t in later.plan.of_type(TerminateInstance)) == sorted(launched)
    assert sb.launched() == {}
    assert {sb.instance_state(iid) for iid in sb.instance_ids} == {"stopped"}
    assert len(events(sb, "terminated")) == 2
    snap = status_of(sb)
    assert [s["kind"] for s in snap["sweeps"]].count("terminated") == 2
    assert {launch["state"] for launch in snap["fleet"]["launches"]} == {"terminated"}


def test_a_launch_template_that_does_not_exist_fails_the_waiting_prs_once(fleet_sandbox: Sandbox) -> None:
    sb = fleet_sandbox
    sb.extra_config = {"ec2": {"launch_template": "no-such-template"}}
    sb.write_config()
    opened = [sb.open_pr(f"f{i}", f"hello {i}") for i in range(3)]
    first = run_pass(sb)
    assert [o.ok for o in first.launches] == [False]
    assert "EC2 refused the launch" in first.launches[0].problem
    # The two oldest PRs are served as ever; the third fails with the reason.
    assert {sb.served(a) for a in sb.host_addrs} == {sha for _, sha in opened[:2]}
    state, said = sb.github.status_states(opened[2][1])[-1]
    assert state == "failure"
    assert "launch" in said
    # The next pass does not try again before the back-off, and says nothing new.
    second = run_pass(sb)
    assert second.launches == ()
    assert sb.github.status_states(opened[2][1])[-1][0] == "failure"
    assert len(events(sb, "launch_failed")) == 1
    assert sb.launched() == {}


def test_a_bootstrap_that_fails_fails_only_its_pr(fleet_sandbox: Sandbox) -> None:
    sb = fleet_sandbox
    role_vars = {**sb.config_dict()["bootstrap"]["vars"], "staging_packages": ["pullrekun-no-such-package"]}
    sb.extra_config = {"bootstrap": {"vars": role_vars}}
    sb.write_config()
    opened = [sb.open_pr(f"f{i}", f"hello {i}") for i in range(3)]
    result = run_pass(sb)
    by_pr = {o.pr_number: o for o in result.outcomes}
    assert by_pr[1].ok
    assert by_pr[2].ok
    assert not by_pr[3].ok
    assert by_pr[3].failed_step == "bootstrap", by_pr[3]
    # Every host a bootstrap failed in its play alone: Ansible ends a playbook there unless the
    # run keeps going. The two other PRs are really served, and only then said to be ready.
    assert {sb.served(a) for a in sb.host_addrs} == {sha for _, sha in opened[:2]}
    for _, sha in opened[:2]:
        assert sb.github.status_states(sha)[-1][0] == "success"
    state, said = sb.github.status_states(opened[2][1])[-1]
    assert state == "failure"
    assert "bootstrap" in said


def test_a_fork_pr_on_a_launched_instance_is_never_handed_on(fleet_sandbox: Sandbox) -> None:
    sb = fleet_sandbox
    sb.extra_config = {"ec2": {"max_size": 3}}
    sb.write_config()
    ours = [sb.open_pr(f"f{i}", f"hello {i}") for i in range(2)]
    fork, fork_sha = sb.open_pr("fork", "from a fork", fork_owner="stranger", author="stranger")
    assert run_pass(sb).ok  # pullrekun sees the fork's head first
    sb.github.set_labels(fork, ["preview:approved"], actor="maintainer")
    assert run_pass(sb).ok
    (fork_host,) = sb.launched()
    assert sb.served(sb.addr_of(fork_host)) == fork_sha
    waiting, _ = sb.open_pr("next", "the next one")
    sb.github.close(fork)
    result = run_pass(sb)
    assert result.ok, (result.problem, result.outcomes)
    assert result.plan is not None
    assert [t.instance_id for t in result.plan.of_type(TerminateInstance)] == [fork_host]
    assert sb.instance_state(fork_host) in {"shutting-down", "terminated"}
    assert fork_host not in sb.launched()
    # The waiting PR got a fresh instance in a later pass (the pool was full while it ended).
    if not any(o.pr_number == waiting for o in result.outcomes):
        assert run_pass(sb).ok
    (fresh,) = sb.launched()
    assert fresh != fork_host
    assert sb.served(sb.addr_of(fresh)) == sb.github.prs[waiting].head_sha
    assert ours  # the PRs of the repository kept their hand-tagged instances all along
    assert {sb.served(a) for a in sb.host_addrs} == {sha for _, sha in ours}


def test_pullrekun_plan_shows_launches_with_their_reasons(fleet_sandbox: Sandbox) -> None:
    from pullrekun.app.reconcile import plan_only

    sb = fleet_sandbox
    for i in range(3):
        sb.open_pr(f"f{i}", f"hello {i}")
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        planned = plan_only(cfg, store)
    finally:
        store.close()
    assert planned.plan is not None
    (launch,) = planned.plan.of_type(LaunchInstance)
    assert launch.reason == "PR #3 waits for an instance"
    assert launch.for_prs == (3,)
    assert sb.launched() == {}, "plan launches nothing"
