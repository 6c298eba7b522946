"""The planner, by tables of cases and by properties over generated worlds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pullrekun.core.dbpolicy import DatabasePolicy
from pullrekun.core.dbusers import owner_nonce
from pullrekun.core.model import (
    Approval,
    ApprovalEvidence,
    Assign,
    Assignment,
    CloneSchema,
    Deploy,
    DropSchema,
    EnvStatus,
    ForgetApproval,
    ForgetInstanceRequest,
    ForgetResetLabel,
    ForgetSchemaDrop,
    Instance,
    InstanceRequest,
    InstanceState,
    InstanceWish,
    Observed,
    Plan,
    PullRequest,
    RecordApproval,
    RegisterInstance,
    RetireInstance,
    RevokeApproval,
    StartInstance,
    StopInstance,
    TagInstance,
    Touch,
    Unassign,
    UntagInstance,
)
from pullrekun.core.planner import PlannerConfig, plan
from pullrekun.core.sleep import Activity
from pullrekun.core.trust import TrustPolicy

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
CFG = PlannerConfig()
S = InstanceState


def sha(n: int) -> str:
    return f"{n:040x}"


def pr(number: int, head: int | None = None, age: int | None = None) -> PullRequest:
    created = NOW - dt.timedelta(hours=age if age is not None else 100 - number)
    return PullRequest(number=number, head_sha=sha(head or number), created_at=created)


def inst(n: int, state: S = S.STOPPED, tag_pr: int | None = None, tag_sha: str | None = None) -> Instance:
    return Instance(f"i-{n:08x}", state, f"127.0.0.{n + 1}", tag_pr=tag_pr, tag_sha=tag_sha)


def ready(pr_number: int, n: int, head: int | None = None) -> Assignment:
    return Assignment(pr_number, f"i-{n:08x}", EnvStatus.READY, sha(head or pr_number), NOW)


def world(prs: list[PullRequest], insts: list[Instance], asgs: list[Assignment]) -> Observed:
    return Observed(tuple(prs), tuple(insts), tuple(asgs))


def up(n: int, pr_number: int, head: int | None = None) -> Instance:
    return inst(n, S.RUNNING, pr_number, sha(head or pr_number))


# --- tables ------------------------------------------------------------------------


def test_new_pr_gets_a_stopped_slot_started_and_deployed() -> None:
    p = plan(world([pr(7)], [inst(1)], []), CFG, NOW)
    assert p.actions == (
        Assign(7, "i-00000001"),
        StartInstance("i-00000001"),
        Deploy(7, "i-00000001", sha(7), "new assignment"),
        TagInstance("i-00000001", 7, sha(7), deployed=True),
    )
    assert p.queue == ()


def test_a_warm_running_instance_is_preferred_and_needs_no_start() -> None:
    p = plan(world([pr(7)], [inst(1), inst(2, S.RUNNING)], []), CFG, NOW)
    assert p.of_type(Assign) == (Assign(7, "i-00000002"),)
    assert p.of_type(StartInstance) == ()


def test_push_redeploys_only_that_environment() -> None:
    observed = world([pr(1, head=11), pr(2)], [up(1, 1), up(2, 2)], [ready(1, 1), ready(2, 2)])
    p = plan(observed, CFG, NOW)
    assert p.actions == (
        Deploy(1, "i-00000001", sha(11), "new head commit"),
        TagInstance("i-00000001", 1, sha(11), deployed=True),
    )


def test_closed_pr_is_unassigned_and_its_instance_stopped() -> None:
    p = plan(world([], [up(1, 5)], [ready(5, 1)]), CFG, NOW)
    assert p.actions == (
        Unassign(5, "i-00000001", "pull request closed"),
        StopInstance("i-00000001", "running but belongs to no open PR"),
        UntagInstance("i-00000001"),  # its tags go once it is stopped
    )


def test_more_prs_than_slots_queue_oldest_first() -> None:
    prs = [pr(1, age=1), pr(2, age=5), pr(3, age=3)]
    p = plan(world(prs, [inst(1)], []), CFG, NOW)
    assert p.of_type(Assign) == (Assign(2, "i-00000001"),)
    assert [(q.pr_number, q.position) for q in p.queue] == [(3, 1), (1, 2)]


def test_a_freed_slot_goes_to_the_queue_in_the_same_pass_without_a_stop() -> None:
    observed = world([pr(2)], [up(1, 1)], [ready(1, 1)])
    p = plan(observed, CFG, NOW)
    assert p.actions == (
        Unassign(1, "i-00000001", "pull request closed"),
        Assign(2, "i-00000001"),
        Deploy(2, "i-00000001", sha(2), "new assignment"),
        TagInstance("i-00000001", 2, sha(2), deployed=True),
    )


def test_assignments_are_sticky_even_when_an_older_pr_waits() -> None:
    observed = world([pr(1, age=1), pr(2, age=9)], [up(1, 1)], [ready(1, 1)])
    p = plan(observed, CFG, NOW)
    assert p.actions == ()
    assert [q.pr_number for q in p.queue] == [2]


def test_running_instance_for_nobody_is_stopped() -> None:
    p = plan(world([], [inst(1, S.RUNNING), inst(2, S.PENDING)], []), CFG, NOW)
    assert p.of_type(StopInstance) == (
        StopInstance("i-00000001", "running but belongs to no open PR", swept=True),
        StopInstance("i-00000002", "running but belongs to no open PR", swept=True),
    )


def test_vanished_instance_requeues_its_pr_onto_another_instance() -> None:
    observed = world([pr(4)], [inst(2)], [ready(4, 1)])
    p = plan(observed, CFG, NOW)
    assert p.actions[0] == Unassign(4, "i-00000001", "instance left the pool; PR requeued")
    assert Assign(4, "i-00000002") in p.actions


def test_failed_environment_is_retried_after_the_configured_delay() -> None:
    failed = Assignment(3, "i-00000001", EnvStatus.FAILED, sha(3), NOW - dt.timedelta(seconds=30))
    observed = world([pr(3)], [up(1, 3)], [failed])
    assert plan(observed, CFG, NOW).of_type(Deploy)[0].reason == "retry after failure"
    patient = PlannerConfig(failed_retry_after=dt.timedelta(minutes=5))
    assert plan(observed, patient, NOW).empty


def test_interrupted_deploy_is_redone() -> None:
    deploying = Assignment(3, "i-00000001", EnvStatus.DEPLOYING, None, NOW)
    p = plan(world([pr(3)], [inst(1, S.RUNNING)], [deploying]), CFG, NOW)
    assert p.of_type(Deploy) == (Deploy(3, "i-00000001", sha(3), "not deployed yet"),)


def test_assigned_instance_stopped_by_hand_is_started_and_redeployed() -> None:
    observed = world([pr(3)], [inst(1, S.STOPPED, 3, sha(3))], [ready(3, 1)])
    p = plan(observed, CFG, NOW)
    assert p.actions == (
        StartInstance("i-00000001"),
        Deploy(3, "i-00000001", sha(3), "instance was stopped"),
        TagInstance("i-00000001", 3, sha(3), deployed=True),
    )


def test_instance_in_transition_is_left_alone_with_a_note() -> None:
    observed = world([pr(3)], [inst(1, S.STOPPING, 3, sha(3))], [ready(3, 1)])
    p = plan(observed, CFG, NOW)
    assert p.empty
    assert "stopping" in p.notes[0]


def test_stopping_and_terminating_instances_are_not_given_out() -> None:
    p = plan(world([pr(1)], [inst(1, S.STOPPING), inst(2, S.SHUTTING_DOWN)], []), CFG, NOW)
    assert p.of_type(Assign) == ()
    assert [q.pr_number for q in p.queue] == [1]


def test_stale_tags_on_a_stopped_free_instance_are_cleared() -> None:
    p = plan(world([], [inst(1, S.STOPPED, 9, sha(9))], []), CFG, NOW)
    assert p.actions == (
        UntagInstance(
            "i-00000001",
            "tagged for PR #9, which holds no instance (closed, or unknown to the state DB)",
            after_stop=False,
            swept=True,
        ),
    ), "stopped already: only the tags are cleared (no stop, no playbook run)"


def wish(n: int, what: InstanceWish) -> InstanceRequest:
    return InstanceRequest(f"i-{n:08x}", what, "local:ann")


def test_a_free_instance_kept_running_on_request_is_started_and_never_stopped() -> None:
    observed = dataclasses.replace(
        world([], [inst(1, S.STOPPED), inst(2, S.RUNNING)], []),
        instance_requests=(wish(1, InstanceWish.RUNNING), wish(2, InstanceWish.RUNNING)),
    )
    assert plan(observed, CFG, NOW).actions == (StartInstance("i-00000001"),)


def test_a_kept_running_instance_given_to_a_pr_forgets_the_wish() -> None:
    observed = dataclasses.replace(
        world([pr(5)], [inst(1, S.RUNNING)], []), instance_requests=(wish(1, InstanceWish.RUNNING),)
    )
    p = plan(observed, CFG, NOW)
    assert p.of_type(Assign) == (Assign(5, "i-00000001"),)
    assert p.of_type(ForgetInstanceRequest) == (ForgetInstanceRequest("i-00000001", "given to PR #5"),)


def test_retiring_a_held_instance_requeues_its_pr_stops_it_then_untags_it() -> None:
    observed = dataclasses.replace(
        world([pr(3)], [inst(1, S.RUNNING, 3, sha(3)), inst(2, S.STOPPED)], [ready(3, 1)]),
        instance_requests=(wish(1, InstanceWish.RETIRE),),
    )
    first = plan(observed, CFG, NOW)
    assert first.of_type(Unassign) == (Unassign(3, "i-00000001", "instance retired on request; PR requeued"),)
    assert first.of_type(StopInstance) == (StopInstance("i-00000001", "retired on request"),)
    assert first.of_type(Assign) == (Assign(3, "i-00000002"),)
    assert not first.of_type(RetireInstance)
    second = plan(apply_success(observed, first), CFG, NOW)
    assert second.actions == (RetireInstance("i-00000001", "local:ann"),)


def test_a_retiring_instance_is_never_given_out() -> None:
    observed = dataclasses.replace(
        world([pr(3)], [inst(1, S.STOPPED)], []), instance_requests=(wish(1, InstanceWish.RETIRE),)
    )
    p = plan(observed, CFG, NOW)
    assert p.actions == (RetireInstance("i-00000001", "local:ann"),)
    assert [q.pr_number for q in p.queue] == [3]


def test_registration_is_planned_once_and_forgotten_when_the_instance_is_in_the_pool() -> None:
    observed = dataclasses.replace(
        world([], [inst(1)], []), instance_requests=(wish(7, InstanceWish.REGISTER),)
    )
    assert plan(observed, CFG, NOW).actions == (RegisterInstance("i-00000007", "local:ann"),)
    joined = dataclasses.replace(observed, instances=(inst(1), inst(7)))
    assert plan(joined, CFG, NOW).actions == (ForgetInstanceRequest("i-00000007", "already in the pool"),)


def test_wishes_for_instances_outside_the_pool_are_forgotten() -> None:
    observed = dataclasses.replace(
        world([], [], []), instance_requests=(wish(4, InstanceWish.RUNNING), wish(5, InstanceWish.RETIRE))
    )
    assert plan(observed, CFG, NOW).actions == (
        ForgetInstanceRequest("i-00000004", "not in the pool"),
        ForgetInstanceRequest("i-00000005", "not in the pool"),
    )


def test_same_input_gives_the_same_plan_whatever_the_input_order() -> None:
    prs = [pr(n) for n in range(1, 6)]
    insts = [inst(n) for n in range(1, 4)]
    a = plan(world(prs, insts, []), CFG, NOW)
    b = plan(world(prs[::-1], insts[::-1], []), CFG, NOW)
    assert a == b


# --- properties --------------------------------------------------------------------


def apply_success(observed: Observed, p: Plan) -> Observed:
    """What the world looks like after every action of ``p`` succeeded."""
    asgs = {a.pr_number: a for a in observed.assignments}
    insts = {i.instance_id: i for i in observed.instances}
    heads = {x.number: x.head_sha for x in observed.prs}
    prs = {x.number: x for x in observed.prs}
    approvals = {a.pr_number: a for a in observed.approvals}
    wishes = {r.instance_id: r for r in observed.instance_requests}
    activity = dict(observed.activity)
    for action in p.actions:
        match action:
            case Touch(pr_number=n, head_sha=h, reason=why):
                known = activity.get(n, Activity(n, NOW))
                activity[n] = dataclasses.replace(known, active_at=NOW, head_sha=h)
                if why == "given an instance":
                    activity[n] = dataclasses.replace(activity[n], gave_up_at=None, asleep=False)
            case Unassign(pr_number=n, set_aside=True):
                known = activity.get(n, Activity(n, NOW))
                activity[n] = dataclasses.replace(known, gave_up_at=NOW, asleep=asgs[n].asleep)
                del asgs[n]
            case RegisterInstance(instance_id=i):
                insts[i] = inst(int(i[2:], 16))
                del wishes[i]
            case RetireInstance(instance_id=i):
                del insts[i]
                del wishes[i]
            case ForgetInstanceRequest(instance_id=i):
                del wishes[i]
            case RecordApproval(pr_number=n, sha=s):
                approvals[n] = Approval(n, s)
            case ForgetApproval(pr_number=n):
                del approvals[n]
            case RevokeApproval(pr_number=n, label=label):
                prs[n] = dataclasses.replace(prs[n], labels=tuple(x for x in prs[n].labels if x != label))
            case Unassign(pr_number=n):
                del asgs[n]
            case StopInstance(instance_id=i):
                insts[i] = dataclasses.replace(insts[i], state=S.STOPPED, tag_pr=None, tag_sha=None)
            case Assign(pr_number=n, instance_id=i):
                asgs[n] = Assignment(n, i, EnvStatus.ASSIGNED, None, NOW)
            case StartInstance(instance_id=i):
                insts[i] = dataclasses.replace(insts[i], state=S.RUNNING)
            case CloneSchema(pr_number=n, source=src, reset_label=seen):
                asgs[n] = dataclasses.replace(
                    asgs[n], db_source=src, db_reset_requested=False, db_reset_seen=seen
                )
            case DropSchema():
                pass
            case ForgetResetLabel(pr_number=n):
                asgs[n] = dataclasses.replace(asgs[n], db_reset_seen=False)
            case TagInstance(instance_id=i, pr_number=n, sha=s):
                insts[i] = dataclasses.replace(insts[i], tag_pr=n, tag_sha=s)
            case Deploy(pr_number=n, instance_id=i, sha=s):
                assert s == heads[n]
                asgs[n] = dataclasses.replace(
                    asgs[n], status=EnvStatus.READY, deployed_sha=s, since=NOW, redeploy_requested=False
                )
                insts[i] = dataclasses.replace(insts[i], state=S.RUNNING, tag_pr=n, tag_sha=s)
    return Observed(
        tuple(prs.values()),
        tuple(insts.values()),
        tuple(asgs.values()),
        tuple(approvals.values()),
        instance_requests=tuple(wishes.values()),
        activity=activity,
    )


@st.composite
def worlds(draw: st.DrawFn) -> Observed:
    n_inst = draw(st.integers(0, 6))
    states = st.sampled_from(list(S)[:5])  # not terminated: those are filtered at observe
    insts = [inst(n, draw(states)) for n in range(1, n_inst + 1)]
    numbers = draw(st.lists(st.integers(1, 40), unique=True, max_size=9))
    prs = [
        dataclasses.replace(
            pr(n, head=draw(st.integers(1, 3)) * 100 + n, age=draw(st.integers(0, 50))),
            draft=draw(st.booleans()),
            from_fork=draw(st.booleans()),
            labels=tuple(
                draw(st.lists(st.sampled_from(["preview:approved", "no-preview", "x"]), unique=True))
            ),
        )
        for n in numbers
    ]
    approvals = [
        Approval(n, draw(st.sampled_from([sha(100 + n), sha(200 + n)])))
        for n in draw(st.lists(st.integers(1, 40), unique=True, max_size=4))
    ]
    # Assignments may mention closed PRs and vanished instances, never an instance twice.
    asg_prs = draw(st.lists(st.integers(1, 40), unique=True, max_size=6))
    asg_insts = draw(st.permutations(list(range(1, 9))))
    asgs = [
        Assignment(
            p,
            f"i-{i:08x}",
            draw(st.sampled_from(list(EnvStatus))),
            draw(st.sampled_from([None, sha(p), sha(100 + p)])),
            NOW,
            redeploy_requested=draw(st.booleans()),
            asleep=draw(st.booleans()),
        )
        for p, i in zip(asg_prs, asg_insts, strict=False)
    ]
    # Wishes may name pool instances and others (i-00000009 is never in the pool).
    wished = draw(st.lists(st.integers(1, 9), unique=True, max_size=3))
    wishes = [
        InstanceRequest(f"i-{i:08x}", draw(st.sampled_from(list(InstanceWish))), "local:ann") for i in wished
    ]
    return Observed(tuple(prs), tuple(insts), tuple(asgs), tuple(approvals), instance_requests=tuple(wishes))


def _final_holders(observed: Observed, p: Plan) -> dict[str, int]:
    after = apply_success(observed, p)
    return {a.instance_id: a.pr_number for a in after.assignments}


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_no_slot_is_ever_given_to_two_prs(observed: Observed) -> None:
    after = apply_success(observed, plan(observed, CFG, NOW))
    ids = [a.instance_id for a in after.assignments]
    assert len(ids) == len(set(ids))


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_replanning_after_a_successful_apply_has_nothing_to_do(observed: Observed) -> None:
    first = plan(observed, CFG, NOW)
    after = apply_success(observed, first)
    second = plan(after, CFG, NOW)
    # A revoked approval's label is gone only after the pass: the next pass forgets it.
    if second.actions and all(isinstance(a, ForgetApproval) for a in second.actions):
        forgotten = {a.pr_number for a in second.of_type(ForgetApproval)}
        assert forgotten <= {a.pr_number for a in first.of_type(RevokeApproval)}
        after = apply_success(after, second)
        second = plan(after, CFG, NOW)
    transitional = {S.STOPPING, S.SHUTTING_DOWN}
    # Two requests take a second pass by design: a retired instance that was running is untagged
    # once seen stopped, and a registered instance is given out once seen in the pool.
    stopped_first = {a.instance_id for a in first.of_type(StopInstance)}
    assert {a.instance_id for a in second.of_type(RetireInstance)} <= stopped_first
    registered, retired = bool(first.of_type(RegisterInstance)), bool(second.of_type(RetireInstance))
    if registered or retired:
        after = apply_success(after, second)
        second = plan(after, CFG, NOW)
    if not any(i.state in transitional for i in observed.instances):
        assert second.actions == ()
    else:
        # Instances mid-transition are waited for, never acted on twice.
        assert not second.of_type(Assign)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_every_open_pr_has_a_slot_a_queue_position_or_a_reason(observed: Observed) -> None:
    p = plan(observed, CFG, NOW)
    holders = set(_final_holders(observed, p).values())
    queued = [q.pr_number for q in p.queue]
    skipped = {s.pr_number: s.reason for s in p.skipped}
    assert len(queued) == len(set(queued))
    assert [q.position for q in p.queue] == list(range(1, len(queued) + 1))
    resting = {r.pr_number for r in p.resting if r.without_instance}
    for x in observed.prs:
        places = [x.number in holders, x.number in queued, x.number in skipped, x.number in resting]
        assert places.count(True) == 1
        assert skipped.get(x.number, "reason") != ""
        if x.draft or (x.from_fork and "preview:approved" not in x.labels):
            assert x.number in skipped


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_a_closed_pr_never_keeps_a_slot(observed: Observed) -> None:
    open_numbers = {x.number for x in observed.prs}
    holders = _final_holders(observed, plan(observed, CFG, NOW))
    assert set(holders.values()) <= open_numbers


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_no_instance_is_left_running_for_nobody(observed: Observed) -> None:
    p = plan(observed, CFG, NOW)
    after = apply_success(observed, p)
    held = {a.instance_id for a in after.assignments}
    kept_running = {r.instance_id for r in observed.instance_requests if r.wish == InstanceWish.RUNNING}
    for i in after.instances:
        if i.state in {S.RUNNING, S.PENDING}:
            assert i.instance_id in held or i.instance_id in kept_running


@pytest.mark.parametrize("bad", ["", "abc", "A" * 40, "g" * 40, "0" * 39, "0" * 40 + "\n"])
def test_only_a_40_hex_sha_is_accepted_on_a_pull_request(bad: str) -> None:
    with pytest.raises(ValueError, match="40 lowercase hex"):
        PullRequest(number=1, head_sha=bad, created_at=NOW)


@pytest.mark.parametrize("bad", [0, -1, True, "1", 2**31])
def test_only_a_positive_integer_pr_number_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        PullRequest(number=bad, head_sha=sha(1), created_at=NOW)  # type: ignore[arg-type]


# --- per-environment databases -------------------------------------------------------

DB = DatabasePolicy(
    default_source="dev_shared",
    authors=(("alice", "dev_alice"), ("bob", "dev_bob")),
    allowed=frozenset({"dev_alice", "dev_bob", "dev_shared", "fixtures"}),
)
CFG_DB = PlannerConfig(database=DB)


def dpr(number: int, author: str = "", labels: tuple[str, ...] = ()) -> PullRequest:
    return dataclasses.replace(pr(number), author=author, labels=labels)


def test_a_new_environment_gets_the_authors_schema_before_its_deploy() -> None:
    p = plan(world([dpr(7, "alice")], [inst(1)], []), CFG_DB, NOW)
    assert p.actions == (
        Assign(7, "i-00000001"),
        StartInstance("i-00000001"),
        CloneSchema(7, "i-00000001", "dev_alice", "stage_i_00000001", "new assignment", nonce=NONCE_7),
        Deploy(7, "i-00000001", sha(7), "new assignment", NONCE_7, db_source="dev_alice"),
        TagInstance("i-00000001", 7, sha(7), deployed=True),
    )


NONCE_7 = owner_nonce(7, NOW)


def test_each_owner_of_a_schema_gets_credentials_of_its_own() -> None:
    """A new assignment and a reset get a new owner nonce (the password derives from it); a
    deploy without a clone keeps the one recorded for the environment."""
    (first,) = plan(world([dpr(7, "alice")], [inst(1)], []), CFG_DB, NOW).of_type(CloneSchema)
    later = NOW + dt.timedelta(hours=1)
    (second,) = plan(world([dpr(8, "bob")], [inst(1)], []), CFG_DB, later).of_type(CloneSchema)
    assert first.nonce
    assert second.nonce != first.nonce
    kept = dataclasses.replace(ready(7, 1), db_source="dev_alice", db_nonce=first.nonce)
    (push,) = plan(world([dpr(7, "alice")], [up(1, 7, head=77)], [kept]), CFG_DB, later).of_type(Deploy)
    assert push.db_nonce == first.nonce
    reset = dataclasses.replace(kept, db_reset_requested=True)
    p = plan(world([dpr(7, "alice")], [up(1, 7)], [reset]), CFG_DB, later)
    (clone,), (deploy,) = p.of_type(CloneSchema), p.of_type(Deploy)
    assert clone.nonce == deploy.db_nonce != first.nonce


def test_a_fork_prs_deploy_marks_its_host_as_having_run_untrusted_code() -> None:
    fork = dataclasses.replace(pr(7), from_fork=True)
    verdict_free = PlannerConfig(trust=dataclasses.replace(CFG.trust, approval_label="ok"))
    approved = dataclasses.replace(fork, labels=("ok",))
    obs = dataclasses.replace(world([approved], [inst(1)], []), approvals=(Approval(7, approved.head_sha),))
    (d,) = plan(obs, verdict_free, NOW).of_type(Deploy)
    assert d.untrusted
    (own,) = plan(world([pr(8)], [inst(1)], []), CFG, NOW).of_type(Deploy)
    assert not own.untrusted


def test_authors_are_matched_case_insensitively_as_github_logins_are() -> None:
    (c,) = plan(world([dpr(7, "Bob")], [inst(1)], []), CFG_DB, NOW).of_type(CloneSchema)
    assert c.source == "dev_bob"


def test_the_schema_tag_names_the_target_and_unknown_authors_get_the_default() -> None:
    tagged = dataclasses.replace(inst(1), db_schema="stage_1")
    (c,) = plan(world([dpr(7, "mallory")], [tagged], []), CFG_DB, NOW).of_type(CloneSchema)
    assert (c.source, c.target) == ("dev_shared", "stage_1")


def test_an_allowed_label_picks_the_source_and_a_hostile_one_is_refused() -> None:
    (c,) = plan(world([dpr(7, "alice", ("db:fixtures",))], [inst(1)], []), CFG_DB, NOW).of_type(CloneSchema)
    assert c.source == "fixtures"
    p = plan(world([dpr(8, "bob", ("db:x`; DROP DATABASE y",))], [inst(1)], []), CFG_DB, NOW)
    (c,) = p.of_type(CloneSchema)
    assert c.source == "dev_bob"
    assert "names no allowed schema" in p.notes[0]
    (c,) = plan(world([dpr(9, "bob", ("db:mysql",))], [inst(1)], []), CFG_DB, NOW).of_type(CloneSchema)
    assert c.source == "dev_bob", "a valid name that is not allowed is refused too"


def test_a_push_keeps_the_data_testers_entered() -> None:
    asg = dataclasses.replace(ready(3, 1), db_source="dev_alice")
    p = plan(world([dpr(3, "alice")], [up(1, 3, head=33)], [asg]), CFG_DB, NOW)
    assert p.of_type(CloneSchema) == ()
    assert p.of_type(Deploy)[0].reason == "instance tags out of date"


def test_tags_are_written_after_a_deploy_and_a_missing_one_without_a_deploy() -> None:
    p = plan(world([pr(3)], [inst(1)], []), CFG, NOW)
    (deploy,) = p.of_type(Deploy)
    assert p.of_type(TagInstance) == (TagInstance(deploy.instance_id, 3, sha(3), deployed=True),)
    untagged = dataclasses.replace(up(1, 3), tag_sha=None)
    p = plan(world([pr(3)], [untagged], [ready(3, 1)]), CFG, NOW)
    assert p.of_type(Deploy) == (), "the host serves the head: only its record is missing"
    assert p.of_type(TagInstance) == (TagInstance(untagged.instance_id, 3, sha(3)),)
    assert plan(world([pr(3)], [up(1, 3)], [ready(3, 1)]), CFG, NOW).empty, "tags right: nothing to do"
    other = plan(world([pr(3)], [up(1, 4)], [ready(3, 1)]), CFG, NOW)
    assert [d.reason for d in other.of_type(Deploy)] == ["instance tags out of date"], (
        "tags naming another PR contradict the record: deployed again"
    )
    failed = dataclasses.replace(ready(3, 1), status=EnvStatus.FAILED)
    bare = dataclasses.replace(untagged, tag_pr=None)
    tags = plan(world([pr(3)], [bare], [failed]), CFG, NOW).of_type(TagInstance)
    assert all(t.deployed for t in tags), "a failed environment's tags wait for a deploy that succeeds"


def test_reset_label_reclones_once_and_is_forgotten_when_removed() -> None:
    asg = dataclasses.replace(ready(3, 1), db_source="dev_alice")
    labelled = dpr(3, "alice", ("db:reset",))
    p = plan(world([labelled], [up(1, 3)], [asg]), CFG_DB, NOW)
    assert p.of_type(CloneSchema) == (
        CloneSchema(
            3, "i-00000001", "dev_alice", "stage_i_00000001", "db:reset label", True, owner_nonce(3, NOW)
        ),
    )
    assert p.of_type(Deploy)[0].reason == "database cloned"
    seen = dataclasses.replace(asg, db_reset_seen=True)
    assert plan(world([labelled], [up(1, 3)], [seen]), CFG_DB, NOW).empty, "not again while the label stays"
    assert plan(world([dpr(3, "alice")], [up(1, 3)], [seen]), CFG_DB, NOW).actions == (ForgetResetLabel(3),)


def test_a_redeploy_request_deploys_a_ready_environment_once() -> None:
    asg = dataclasses.replace(ready(3, 1), redeploy_requested=True)
    (d,) = plan(world([pr(3)], [up(1, 3)], [asg]), CFG, NOW).of_type(Deploy)
    assert (d.pr_number, d.reason) == (3, "redeploy requested")
    assert plan(world([pr(3)], [up(1, 3)], [ready(3, 1)]), CFG, NOW).empty, "answered: nothing more"


def test_an_environment_put_to_sleep_is_stopped_kept_and_woken_on_request() -> None:
    asleep = dataclasses.replace(ready(3, 1), asleep=True)
    p = plan(world([pr(3, head=33)], [up(1, 3)], [asleep]), CFG, NOW)
    assert p.actions == (
        StopInstance("i-00000001", "PR #3 asleep: stopped on request", wipe=False),
        UntagInstance("i-00000001"),
    )
    stopped = inst(1, S.STOPPED)
    assert plan(world([pr(3, head=33)], [stopped], [asleep]), CFG, NOW).empty, "a push does not wake it"
    tagged = plan(world([pr(3, head=33)], [inst(1, S.STOPPED, 3, sha(3))], [asleep]), CFG, NOW)
    assert tagged.actions == (
        UntagInstance("i-00000001", "PR #3 asleep: stopped on request", after_stop=False),
    ), "stopped already (a stop whose tags were not cleared): only the tags go"
    other = plan(world([pr(3), pr(4)], [stopped], [asleep]), CFG, NOW)
    handed = "asleep: its instance went to a waiting PR; it queues again once woken"
    assert other.of_type(Unassign) == (Unassign(3, "i-00000001", handed, set_aside=True),)
    assert other.of_type(Assign) == (Assign(4, "i-00000001"),), "a sleeper hands its instance on"
    assert [(r.pr_number, r.without_instance) for r in other.resting] == [(3, True)]
    assert other.queue == ()
    woken = plan(world([pr(3, head=33)], [stopped], [ready(3, 1)]), CFG, NOW)
    assert woken.actions == (
        StartInstance("i-00000001"),
        Deploy(3, "i-00000001", sha(33), "instance was stopped"),
        TagInstance("i-00000001", 3, sha(33), deployed=True),
    )


def test_reset_db_command_reclones() -> None:
    asg = dataclasses.replace(ready(3, 1), db_source="dev_alice", db_reset_requested=True)
    (c,) = plan(world([dpr(3, "alice")], [up(1, 3)], [asg]), CFG_DB, NOW).of_type(CloneSchema)
    assert c.reason == "reset requested"


@st.composite
def db_worlds(draw: st.DrawFn) -> Observed:
    base = draw(worlds())
    labels = st.lists(st.sampled_from(["db:reset", "db:fixtures", "db:nope", "db:x;y", "bug"]), max_size=3)
    prs = tuple(
        dataclasses.replace(
            p, author=draw(st.sampled_from(["alice", "bob", "zed"])), labels=tuple(draw(labels))
        )
        for p in base.prs
    )
    asgs = tuple(
        dataclasses.replace(
            a,
            db_source=draw(st.sampled_from([None, "dev_alice"])),
            db_reset_requested=draw(st.booleans()),
            db_reset_seen=draw(st.booleans()),
        )
        for a in base.assignments
    )
    return Observed(prs, base.instances, asgs)


@settings(max_examples=300, deadline=None)
@given(db_worlds())
def test_with_databases_replanning_after_success_is_empty_and_clones_pair_with_deploys(
    observed: Observed,
) -> None:
    first = plan(observed, CFG_DB, NOW)
    deployed = {d.pr_number for d in first.of_type(Deploy)}
    assert {c.pr_number for c in first.of_type(CloneSchema)} <= deployed
    for c in first.of_type(CloneSchema):
        assert c.source in DB.allowed
    if not any(i.state in {S.STOPPING, S.SHUTTING_DOWN} for i in observed.instances):
        assert plan(apply_success(observed, first), CFG_DB, NOW).actions == ()


def test_on_close_drop_drops_the_schema_unless_the_slot_is_reassigned_at_once() -> None:
    dropping = PlannerConfig(database=dataclasses.replace(DB, drop_on_close=True))
    asg = dataclasses.replace(ready(3, 1), db_source="dev_alice")
    p = plan(world([], [up(1, 3)], [asg]), dropping, NOW)
    assert p.of_type(DropSchema) == (DropSchema("i-00000001", "stage_i_00000001"),)
    p = plan(world([dpr(4, "bob")], [up(1, 3)], [asg]), dropping, NOW)
    assert p.of_type(DropSchema) == (), "the next PR's clone replaces it anyway"
    assert plan(world([], [up(1, 3)], [asg]), CFG_DB, NOW).of_type(DropSchema) == (), "keep is the default"


# --- who gets an environment ---------------------------------------------------------

APPROVE = "preview:approved"


def fork(number: int, head: int | None = None, labels: tuple[str, ...] = ()) -> PullRequest:
    return dataclasses.replace(pr(number, head), from_fork=True, labels=labels, author="stranger")


#: A maintainer added the label a minute after pullrekun saw the head.
LABELLED = ApprovalEvidence(
    label_by="maintainer",
    label_at=NOW - dt.timedelta(minutes=1),
    label_by_writer=True,
    head_seen_at=NOW - dt.timedelta(minutes=2),
)


def forks(prs: list[PullRequest], insts: list[Instance], evidence: ApprovalEvidence = LABELLED) -> Observed:
    return Observed(tuple(prs), tuple(insts), (), evidence={p.number: evidence for p in prs})


def test_a_fork_pr_without_approval_gets_no_slot_and_a_reason() -> None:
    p = plan(world([fork(1)], [inst(1)], []), CFG, NOW)
    assert not p.of_type(Assign)
    assert not p.queue
    assert [s.pr_number for s in p.skipped] == [1]
    assert APPROVE in p.skipped[0].reason


def test_the_approval_label_deploys_a_fork_pr_and_is_bound_to_its_head() -> None:
    p = plan(forks([fork(1, labels=(APPROVE,))], [inst(1)]), CFG, NOW)
    assert p.of_type(RecordApproval) == (RecordApproval(1, sha(1)),)
    assert p.of_type(Assign) == (Assign(1, "i-00000001"),)


@pytest.mark.parametrize(
    ("evidence", "words"),
    [
        (ApprovalEvidence(), "no record of who added"),
        (dataclasses.replace(LABELLED, label_by="Stranger"), "added by the PR's author"),
        (
            dataclasses.replace(LABELLED, label_by="triager", label_by_writer=False),
            "triager, who has no write",
        ),
        # Labelled, then a push within the same second: the label predates the head pullrekun saw.
        (dataclasses.replace(LABELLED, head_seen_at=NOW - dt.timedelta(seconds=59)), "older than commit"),
        (dataclasses.replace(LABELLED, head_seen_at=None), "older than commit"),
    ],
)
def test_a_label_approves_only_when_a_writer_other_than_the_author_added_it_after_the_head(
    evidence: ApprovalEvidence, words: str
) -> None:
    p = plan(forks([fork(1, labels=(APPROVE,))], [inst(1)], evidence), CFG, NOW)
    assert not p.of_type(RecordApproval)
    assert not p.of_type(Assign)
    assert words in p.skipped[0].reason


def test_an_approving_review_approves_exactly_the_commit_it_was_made_on() -> None:
    reviewed = ApprovalEvidence(reviewed_commits=frozenset({sha(1)}))
    assert plan(forks([fork(1)], [inst(1)], reviewed), CFG, NOW).of_type(Assign) == (Assign(1, "i-00000001"),)
    pushed = plan(forks([fork(1, head=2)], [inst(1)], reviewed), CFG, NOW)
    assert not pushed.of_type(Assign)
    assert "approve its head commit" in pushed.skipped[0].reason


def test_a_push_to_an_approved_fork_pr_needs_approval_again() -> None:
    observed = Observed(
        (fork(1, head=2, labels=(APPROVE,)),), (up(1, 1),), (ready(1, 1),), (Approval(1, sha(1)),)
    )
    p = plan(observed, CFG, NOW)
    assert p.of_type(RevokeApproval) == (RevokeApproval(1, APPROVE),)
    assert not p.of_type(Deploy)
    assert p.of_type(Unassign)[0].reason.startswith("no longer eligible: new commits")
    assert p.of_type(StopInstance)
    # Once the label is gone the approval is forgotten; a new label approves the new head.
    gone = Observed((fork(1, head=2),), (inst(1),), (), (Approval(1, sha(1)),))
    assert plan(gone, CFG, NOW).of_type(ForgetApproval) == (ForgetApproval(1),)
    again = forks([fork(1, head=2, labels=(APPROVE,))], [inst(1)])
    assert plan(again, CFG, NOW).of_type(RecordApproval) == (RecordApproval(1, sha(2)),)


def test_an_approval_seen_on_a_draft_binds_to_that_head() -> None:
    draft = dataclasses.replace(fork(1, labels=(APPROVE,)), draft=True)
    p = plan(forks([draft], [inst(1)]), CFG, NOW)
    assert p.of_type(RecordApproval) == (RecordApproval(1, sha(1)),)
    assert not p.of_type(Assign)


@pytest.mark.parametrize(
    ("change", "trust", "words"),
    [
        ({"draft": True}, TrustPolicy(), "draft"),
        ({"labels": ("no-preview",)}, TrustPolicy(), "no-preview"),
        ({}, TrustPolicy(opt_in_label="preview"), "opt-in"),
        ({"base_ref": "release/1.x"}, TrustPolicy(base_branches=("main",)), "release/1.x"),
    ],
)
def test_drafts_opt_outs_opt_in_mode_and_base_branches_are_skipped(
    change: dict[str, object], trust: TrustPolicy, words: str
) -> None:
    config = PlannerConfig(trust=trust)
    skipped = dataclasses.replace(pr(1), **change)  # type: ignore[arg-type]
    other = dataclasses.replace(pr(2), labels=("preview",))
    p = plan(world([skipped, other], [inst(1), inst(2)], []), config, NOW)
    assert p.of_type(Assign) == (Assign(2, "i-00000001"),)
    assert [s.pr_number for s in p.skipped] == [1]
    assert words in p.skipped[0].reason


def test_a_pr_that_becomes_ineligible_gives_its_slot_back() -> None:
    draft = dataclasses.replace(pr(1), draft=True)
    p = plan(world([draft, pr(2)], [up(1, 1)], [ready(1, 1)]), CFG, NOW)
    assert p.of_type(Unassign)[0].reason.startswith("no longer eligible: draft")
    assert p.of_type(Assign) == (Assign(2, "i-00000001"),)
    assert p.busy == 1


def test_opt_in_label_and_drafts_setting_let_prs_in() -> None:
    config = PlannerConfig(trust=TrustPolicy(opt_in_label="preview", drafts=True))
    wanted = dataclasses.replace(pr(1), draft=True, labels=("preview",))
    assert plan(world([wanted], [inst(1)], []), config, NOW).of_type(Assign) == (Assign(1, "i-00000001"),)


def test_a_recorded_drop_is_done_while_the_instance_is_free_and_forgotten_once_it_serves() -> None:
    dropping = PlannerConfig(database=dataclasses.replace(DB, drop_on_close=True))
    free = Instance("i-0000000a", InstanceState.RUNNING, "127.0.0.2")
    observed = Observed((), (free,), (), schema_drops={"i-0000000a": "stage_i_0000000a"})
    result = plan(observed, dropping, NOW)
    assert DropSchema("i-0000000a", "stage_i_0000000a") in result.actions
    pr = PullRequest(5, "b" * 40, NOW)
    taken = plan(dataclasses.replace(observed, prs=(pr,)), dropping, NOW)
    assert not taken.of_type(DropSchema), "never the schema of an instance a PR now holds"
    assert ForgetSchemaDrop("i-0000000a", "instance given to PR #5") in taken.actions
    gone = plan(dataclasses.replace(observed, instances=()), dropping, NOW)
    assert gone.actions == ()
    assert any("waits to be dropped" in note for note in gone.notes)
