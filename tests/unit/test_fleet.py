"""The planner's fleet rules: launches, adoption, replacement, scale-in. Pure: tables of cases,
and properties over generated pools."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from pullrekun.core.fleet import (
    AdoptLaunch,
    FleetPolicy,
    ForgetLaunch,
    LaunchInstance,
    LaunchRecord,
    Recycle,
    TerminateInstance,
    launch_token,
)
from pullrekun.core.model import (
    Assign,
    Assignment,
    Deploy,
    EnvStatus,
    InstanceState,
    Observed,
    Unassign,
)
from pullrekun.core.planner import PlannerConfig, plan
from tests.unit.test_planner import NOW, inst, pr, ready, sha

S = InstanceState
FLEET = FleetPolicy(launches=True, max_size=4, recycle=Recycle.UNTRUSTED)
CFG = PlannerConfig(fleet=FLEET)


def token(n: int) -> str:
    return f"prk-{n:032x}"


def launched(n: int, at: dt.datetime = NOW - dt.timedelta(hours=5), **kw: object) -> LaunchRecord:
    """The record of a launch that gave instance ``n`` (as tests.unit.test_planner.inst names it)."""
    return LaunchRecord(token(n), at, "PR waits", f"i-{n:08x}", bootstrapped=True, **kw)  # type: ignore[arg-type]


def world(prs: list, insts: list, asgs: list, **kw: object) -> Observed:  # type: ignore[type-arg]
    return Observed(tuple(prs), tuple(insts), tuple(asgs), **kw)  # type: ignore[arg-type]


def test_no_launch_without_a_launch_template() -> None:
    p = plan(world([pr(1), pr(2)], [], []), PlannerConfig(), NOW)
    assert p.of_type(LaunchInstance) == ()
    assert [q.pr_number for q in p.queue] == [1, 2]
    assert not any(q.launching for q in p.queue)


def test_queued_prs_get_launches_up_to_max_size_and_the_queue_says_which() -> None:
    busy = [inst(1, S.RUNNING, 1, sha(1)), inst(2, S.RUNNING, 2, sha(2))]
    p = plan(world([pr(n) for n in range(1, 6)], busy, [ready(1, 1), ready(2, 2)]), CFG, NOW)
    launches = p.of_type(LaunchInstance)
    assert [launch.for_prs for launch in launches] == [(3,), (4,)]
    assert [launch.token for launch in launches] == [launch_token("default", NOW, i) for i in range(2)]
    assert [(q.pr_number, q.position, q.launching) for q in p.queue] == [
        (3, 1, True),
        (4, 2, True),
        (5, 3, False),
    ]


def test_below_min_size_launches_even_with_no_queue() -> None:
    cfg = PlannerConfig(fleet=dataclasses.replace(FLEET, min_size=2))
    p = plan(world([], [inst(1)], []), cfg, NOW)
    launches = p.of_type(LaunchInstance)
    assert len(launches) == 1
    assert launches[0].reason == "pool below ec2.min_size (2)"
    assert launches[0].for_prs == ()


def test_a_launch_whose_pass_died_is_asked_again_with_its_token_and_counts() -> None:
    pending = LaunchRecord(token(9), NOW - dt.timedelta(minutes=1), "PR #3 waits for an instance")
    busy = [inst(1, S.RUNNING, 1, sha(1)), inst(2, S.RUNNING, 2, sha(2))]
    observed = world([pr(n) for n in range(1, 6)], busy, [ready(1, 1), ready(2, 2)], launches=(pending,))
    launches = plan(observed, CFG, NOW).of_type(LaunchInstance)
    assert launches[0] == LaunchInstance(token(9), "PR #3 waits for an instance", (3,), retry=True)
    assert len(launches) == 2, "the pending launch counts: one new launch reaches max_size"


def test_a_launch_in_back_off_blocks_new_ones_and_fails_the_pr_it_was_for() -> None:
    failed = LaunchRecord(
        token(9), NOW - dt.timedelta(minutes=1), "PR #2 waits",
        failure="EC2 refused the launch: NoSuchTemplate", retry_at=NOW + dt.timedelta(minutes=2),
    )  # fmt: skip
    busy = [inst(1, S.RUNNING, 1, sha(1))]
    p = plan(world([pr(1), pr(2), pr(3)], busy, [ready(1, 1)], launches=(failed,)), CFG, NOW)
    assert p.of_type(LaunchInstance) == ()
    by_pr = {q.pr_number: q for q in p.queue}
    assert by_pr[2].launch_failure.startswith(
        "launching an instance failed: EC2 refused the launch: NoSuchTemplate"
    )
    assert "12:02 UTC" in by_pr[2].launch_failure
    assert by_pr[3].launch_failure == ""
    assert not by_pr[3].launching


def test_a_failed_launch_is_retried_with_its_token_once_its_time_comes() -> None:
    failed = LaunchRecord(token(9), NOW - dt.timedelta(hours=1), "r", failure="capacity", retry_at=NOW)
    p = plan(world([pr(1)], [], [], launches=(failed,)), CFG, NOW)
    assert p.of_type(LaunchInstance) == (LaunchInstance(token(9), "r", (1,), retry=True),)


def test_a_failed_launch_nobody_waits_for_is_forgotten() -> None:
    failed = LaunchRecord(token(9), NOW - dt.timedelta(hours=1), "r", failure="capacity", retry_at=NOW)
    p = plan(world([], [], [], launches=(failed,)), CFG, NOW)
    assert p.of_type(ForgetLaunch) == (ForgetLaunch(token(9), "failed, and nobody waits for it any more"),)
    assert p.of_type(LaunchInstance) == ()


def test_an_instance_with_a_recorded_token_is_adopted_and_bootstrapped_before_its_deploy() -> None:
    record = LaunchRecord(token(9), NOW - dt.timedelta(minutes=1), "PR #1 waits")
    new = dataclasses.replace(inst(3, S.RUNNING), launch_token=token(9))
    p = plan(world([pr(1)], [new], [], launches=(record,)), CFG, NOW)
    assert p.of_type(AdoptLaunch) == (AdoptLaunch(token(9), new.instance_id),)
    assert p.of_type(LaunchInstance) == ()
    (deploy,) = p.of_type(Deploy)
    assert deploy.instance_id == new.instance_id
    assert deploy.bootstrap


def test_a_token_tag_no_launch_recorded_makes_nothing_managed() -> None:
    """Anyone who may tag instances can write pullrekun:launch: a forged token adopts nothing,
    and the instance is never terminated."""
    forged = dataclasses.replace(inst(3, S.RUNNING), launch_token=token(77))
    cfg = PlannerConfig(fleet=dataclasses.replace(FLEET, scale_in_after=dt.timedelta(0)))
    p = plan(world([], [forged], [], launches=()), cfg, NOW)
    assert p.of_type(AdoptLaunch) == ()
    assert p.of_type(TerminateInstance) == ()
    (deploy_or_stop,) = p.actions
    assert type(deploy_or_stop).__name__ == "StopInstance", "running for nobody: stopped, as any instance"


def test_a_managed_instance_that_ran_a_fork_is_terminated_not_handed_on() -> None:
    fork_host = inst(1, S.RUNNING, 1, sha(1))
    observed = world(
        [pr(2)],
        [fork_host],
        [ready(1, 1)],
        launches=(launched(1),),
        untrusted=frozenset({fork_host.instance_id}),
    )
    p = plan(observed, CFG, NOW)
    assert Unassign(1, fork_host.instance_id, "pull request closed") in p.actions
    (end,) = p.of_type(TerminateInstance)
    assert end.instance_id == fork_host.instance_id
    assert "not trusted" in end.reason
    assert p.of_type(Assign) == ()
    assert [(launch.for_prs) for launch in p.of_type(LaunchInstance)] == [(2,)], (
        "a fresh one for the waiting PR"
    )


def test_a_hand_tagged_instance_that_ran_a_fork_is_wiped_and_handed_on() -> None:
    fork_host = inst(1, S.RUNNING, 1, sha(1))
    observed = world([pr(2)], [fork_host], [ready(1, 1)], untrusted=frozenset({fork_host.instance_id}))
    p = plan(observed, CFG, NOW)
    assert p.of_type(TerminateInstance) == ()
    assert p.of_type(Assign) == (Assign(2, fork_host.instance_id),)


def test_recycle_always_replaces_every_served_instance_and_never_none() -> None:
    host = inst(1, S.RUNNING, 1, sha(1))
    observed = world([pr(2)], [host], [ready(1, 1)], launches=(launched(1),))
    always = plan(observed, PlannerConfig(fleet=dataclasses.replace(FLEET, recycle=Recycle.ALWAYS)), NOW)
    assert [t.instance_id for t in always.of_type(TerminateInstance)] == [host.instance_id]
    forked = dataclasses.replace(observed, untrusted=frozenset({host.instance_id}))
    never = plan(forked, PlannerConfig(fleet=dataclasses.replace(FLEET, recycle=Recycle.NEVER)), NOW)
    assert never.of_type(TerminateInstance) == ()
    assert never.of_type(Assign) == (Assign(2, host.instance_id),)


def test_termination_protection_keeps_the_instance_and_says_so() -> None:
    host = inst(1, S.RUNNING, 1, sha(1))
    observed = world(
        [],
        [host],
        [ready(1, 1)],
        launches=(launched(1, protected=True),),
        untrusted=frozenset({host.instance_id}),
    )
    p = plan(observed, CFG, NOW)
    assert p.of_type(TerminateInstance) == ()
    assert any("termination protection is on" in n for n in p.notes)


def test_scale_in_terminates_idle_managed_instances_oldest_first_down_to_min_size() -> None:
    old = launched(1, NOW - dt.timedelta(hours=9), idle_since=NOW - dt.timedelta(hours=2))
    newer = launched(2, NOW - dt.timedelta(hours=8), idle_since=NOW - dt.timedelta(hours=2))
    fresh = launched(3, NOW - dt.timedelta(hours=7), idle_since=NOW - dt.timedelta(minutes=5))
    insts = [inst(1), inst(2), inst(3), inst(4)]  # inst(4): tagged in by hand
    cfg = PlannerConfig(fleet=dataclasses.replace(FLEET, min_size=2))
    p = plan(world([], insts, [], launches=(old, newer, fresh)), cfg, NOW)
    assert [t.instance_id for t in p.of_type(TerminateInstance)] == [inst(1).instance_id, inst(2).instance_id]
    assert p.of_type(TerminateInstance)[0].reason == "scale-in: free for 2.0 h"
    low = PlannerConfig(fleet=dataclasses.replace(FLEET, min_size=3))
    assert [
        t.instance_id
        for t in plan(world([], insts, [], launches=(old, newer)), low, NOW).of_type(TerminateInstance)
    ] == [inst(1).instance_id]


def test_no_scale_in_while_prs_wait() -> None:
    idle = launched(1, idle_since=NOW - dt.timedelta(hours=3))
    busy = inst(2, S.RUNNING, 1, sha(1))
    p = plan(world([pr(1), pr(2)], [inst(1, S.RUNNING), busy], [ready(1, 2)], launches=(idle,)), CFG, NOW)
    assert p.of_type(TerminateInstance) == ()
    assert p.of_type(Assign) == (Assign(2, inst(1).instance_id),)


def test_the_same_observation_plans_the_same_launches() -> None:
    observed = world([pr(1), pr(2)], [], [])
    assert plan(observed, CFG, NOW) == plan(observed, CFG, NOW)
    later = plan(observed, CFG, NOW + dt.timedelta(microseconds=1)).of_type(LaunchInstance)
    assert {a.token for a in later}.isdisjoint(
        {a.token for a in plan(observed, CFG, NOW).of_type(LaunchInstance)}
    )


# --- properties -----------------------------------------------------------------------


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Observed, PlannerConfig]:
    n_insts = draw(st.integers(0, 5))
    states = draw(st.lists(st.sampled_from([S.RUNNING, S.STOPPED]), min_size=n_insts, max_size=n_insts))
    insts = [inst(i + 1, s) for i, s in enumerate(states)]
    managed = draw(st.lists(st.booleans(), min_size=n_insts, max_size=n_insts))
    idle_hours = draw(st.integers(0, 5))
    records = [
        launched(i + 1, idle_since=NOW - dt.timedelta(hours=idle_hours)) for i, m in enumerate(managed) if m
    ]
    in_flight = draw(st.integers(0, 2))
    records += [LaunchRecord(token(100 + i), NOW - dt.timedelta(minutes=i + 1)) for i in range(in_flight)]
    prs = [pr(n) for n in range(1, draw(st.integers(0, 8)) + 1)]
    held = draw(st.integers(0, min(n_insts, len(prs))))
    asgs = [Assignment(n, insts[n - 1].instance_id, EnvStatus.READY, sha(n), NOW) for n in range(1, held + 1)]
    max_size = draw(st.integers(1, 7))
    min_size = draw(st.integers(0, max_size))
    cfg = PlannerConfig(fleet=dataclasses.replace(FLEET, max_size=max_size, min_size=min_size))
    return world(prs, insts, asgs, launches=tuple(records)), cfg


@given(fleets())
@settings(max_examples=300, deadline=None)
def test_launches_never_grow_the_pool_past_max_size_nor_terminate_hand_tagged(
    case: tuple[Observed, PlannerConfig],
) -> None:
    observed, cfg = case
    p = plan(observed, cfg, NOW)
    in_flight = sum(1 for r in observed.launches if r.instance_id is None)
    new = sum(1 for a in p.of_type(LaunchInstance) if not a.retry)
    ended = len(p.of_type(TerminateInstance))
    size_after = len(observed.instances) - ended + in_flight + new
    assert new == 0 or size_after <= max(cfg.fleet.max_size, cfg.fleet.min_size)
    managed_ids = {r.instance_id for r in observed.launches if r.instance_id}
    assert {t.instance_id for t in p.of_type(TerminateInstance)} <= managed_ids
    assert size_after >= min(cfg.fleet.min_size, len(observed.instances) + in_flight) or new > 0
    held = {a.instance_id for a in observed.assignments}
    assert not {t.instance_id for t in p.of_type(TerminateInstance)} & held, "never one that serves a PR"


def test_a_terminate_wish_ends_only_a_launched_instance_and_requeues_its_pr() -> None:
    from pullrekun.core.model import ForgetInstanceRequest, InstanceRequest, InstanceWish

    launched_host, by_hand = inst(1, S.RUNNING, 1, sha(1)), inst(2, S.RUNNING, 2, sha(2))
    wishes = (
        InstanceRequest(launched_host.instance_id, InstanceWish.TERMINATE, "local:ada"),
        InstanceRequest(by_hand.instance_id, InstanceWish.TERMINATE, "local:ada"),
    )
    observed = world(
        [pr(1), pr(2)], [launched_host, by_hand], [ready(1, 1), ready(2, 2)],
        launches=(launched(1),), instance_requests=wishes,
    )  # fmt: skip
    p = plan(observed, CFG, NOW)
    assert p.of_type(TerminateInstance) == (
        TerminateInstance(launched_host.instance_id, "terminated on request", "local:ada"),
    )
    assert Unassign(1, launched_host.instance_id, "instance terminated on request; PR requeued") in p.actions
    (refused,) = p.of_type(ForgetInstanceRequest)
    assert refused.instance_id == by_hand.instance_id
    assert "only instances it launched are terminated" in refused.reason
    assert [launch.for_prs for launch in p.of_type(LaunchInstance)] == [(1,)], "PR #1 gets a fresh one"


def test_a_launch_asked_for_is_made_if_the_pool_has_room_and_refused_if_not() -> None:
    from pullrekun.core.fleet import ForgetLaunchRequest, LaunchRequest

    asked = (LaunchRequest(7, "local:ada"),)
    p = plan(world([], [inst(1)], [], launch_requests=asked), CFG, NOW)
    (launch,) = p.of_type(LaunchInstance)
    assert (launch.request_id, launch.actor, launch.reason) == (7, "local:ada", "asked for by local:ada")
    full = [inst(n) for n in range(1, 5)]
    p = plan(world([], full, [], launch_requests=asked), CFG, NOW)
    assert p.of_type(LaunchInstance) == ()
    assert p.of_type(ForgetLaunchRequest) == (
        ForgetLaunchRequest(7, "the pool is at ec2.max_size (4)", "local:ada"),
    )
    off = plan(world([], [], [], launch_requests=asked), PlannerConfig(), NOW)
    assert off.of_type(ForgetLaunchRequest)[0].reason == "launching is off (no ec2.launch_template)"


def test_a_launch_whose_instance_never_shows_is_forgotten_after_an_hour() -> None:
    """Its instance is tagged at creation, so an hour without it in the pool means there is none
    (EC2 made nothing, or it ended unseen): the launch stops counting, and a new one is made."""
    lost = LaunchRecord(token(9), NOW - dt.timedelta(hours=1), "PR #1 waits for an instance")
    p = plan(world([pr(1)], [], [], launches=(lost,)), CFG, NOW)
    (forgotten,) = p.of_type(ForgetLaunch)
    assert forgotten.token == token(9)
    assert "no instance of it showed in the pool within 1:00:00" in forgotten.reason
    (fresh,) = p.of_type(LaunchInstance)
    assert fresh.token != token(9)
    assert fresh.for_prs == (1,)
    recent = dataclasses.replace(lost, requested_at=NOW - dt.timedelta(minutes=59))
    assert plan(world([pr(1)], [], [], launches=(recent,)), CFG, NOW).of_type(ForgetLaunch) == ()
