"""What each PR is told: views from the plan and the state DB, steps, queue wording."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from pullrekun.adapters.github.client import _parse_reset
from pullrekun.adapters.github.publish import cap
from pullrekun.core.model import EnvStatus, Plan, PullRequest, QueuedPR, SkippedPR, StartInstance
from pullrekun.core.steps import Step, step_of
from pullrekun.core.views import EnvironmentView, Phase, build_views, ordinal, queue_text

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def pr(n: int, sha: str = "a") -> PullRequest:
    return PullRequest(n, sha * 40, NOW)


@pytest.mark.parametrize(
    ("tags", "unreachable", "step"),
    [
        (["step_start"], False, Step.START),
        (["always", "step_migrate"], False, Step.MIGRATE),
        (["step_health_check"], False, Step.HEALTH_CHECK),
        (["step_schema"], True, Step.START),  # a host that does not answer: the start step
        ([], False, Step.DEPLOY),
        (["step_no_such_step"], False, Step.DEPLOY),
    ],
)
def test_a_failure_is_named_by_its_tasks_step_tag(tags: list[str], unreachable: bool, step: Step) -> None:
    assert step_of(tags, unreachable=unreachable) is step


def test_every_step_has_a_tag_and_the_tags_round_trip() -> None:
    assert [s.tag for s in Step] == [
        "step_start", "step_bootstrap", "step_checkout", "step_schema", "step_migrate", "step_restart",
        "step_health_check", "step_deploy",
    ]  # fmt: skip
    assert all(step_of([s.tag]) is s for s in Step)


def test_queue_wording_uses_ordinals_and_stops_counting_far_back() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
    assert queue_text(3, 4, 10) == "3rd in line, 4 instances busy"
    assert queue_text(1, 1, 10) == "1st in line, 1 instance busy"
    assert (
        queue_text(11, 4, 10)
        == queue_text(250, 4, 10)
        == "waiting for an instance, behind 10+ others; 4 instances busy"
    )


def test_views_cover_queued_skipped_deploying_ready_and_failed() -> None:
    envs = {
        1: EnvironmentView(1, "i-00000001", "running", EnvStatus.READY, "a" * 40, NOW, "http://h/"),
        2: EnvironmentView(2, "i-00000002", "running", EnvStatus.DEPLOYING, None, NOW, "http://h2/"),
        3: EnvironmentView(3, "i-00000003", "running", EnvStatus.FAILED, None, NOW, "",
                           failed_task="Start the instance.", failed_step=Step.START,
                           message="first line\nout 1\nout 2"),
        6: EnvironmentView(6, "i-00000006", "running", EnvStatus.READY, "b" * 40, NOW, "http://h6/"),
    }  # fmt: skip
    plan = Plan(
        actions=(StartInstance("i-00000002"),),
        queue=(QueuedPR(4, 1),),
        skipped=(SkippedPR(5, "draft pull request"),),
        busy=4,
    )
    prs = [pr(1), pr(2), pr(3), pr(4), pr(5), pr(6, "c")]
    views = build_views(prs, plan, envs, {4: NOW - dt.timedelta(minutes=5)}, NOW)
    phases = {n: v.phase for n, v in views.items()}
    assert phases == {1: "ready", 2: "deploying", 3: "failed", 4: "queued", 5: "skipped", 6: "deploying"}
    assert views[2].detail == "starting the instance"
    assert views[3].failed_step == "start"
    assert (views[3].failed_message, views[3].output_tail) == ("first line", ("out 1", "out 2"))
    assert views[4].detail == "1st in line, 4 instances busy"
    assert views[4].since == NOW - dt.timedelta(minutes=5)
    assert views[6].deployed_sha == "b" * 40  # ready on an older commit: the new one is on its way


def test_descriptions_are_capped_at_githubs_140_characters() -> None:
    assert len(cap("x" * 500)) == 140
    assert cap("a\nb") == "a b"


def test_retry_after_and_reset_headers_give_the_back_off_time() -> None:
    assert _parse_reset({"retry-after": "30"}, NOW) == NOW + dt.timedelta(seconds=30)
    reset = int((NOW + dt.timedelta(minutes=7)).timestamp())
    assert _parse_reset(
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}, NOW
    ) == NOW + dt.timedelta(minutes=7)
    assert _parse_reset({"x-ratelimit-remaining": "12"}, NOW) is None


@pytest.mark.parametrize(
    ("status", "instance_state", "asleep", "shown"),
    [
        (EnvStatus.READY, "running", False, "ready"),
        (EnvStatus.READY, "stopped", False, "starting"),  # woken: the pass starts it and deploys
        (EnvStatus.READY, "pending", False, "starting"),
        (EnvStatus.READY, "stopped", True, "asleep"),
        (EnvStatus.FAILED, "stopped", False, "failed"),
        (EnvStatus.DEPLOYING, "pending", False, "deploying"),
    ],
)
def test_what_people_are_shown_follows_the_instance(
    status: EnvStatus, instance_state: str, asleep: bool, shown: str
) -> None:
    env = EnvironmentView(1, "i-00000001", instance_state, status, None, NOW, asleep=asleep)
    assert env.shown == shown
    assert dataclasses.replace(env, asleep=True).shown == "asleep", "a copy is shown afresh"


def test_a_pr_waiting_for_a_launch_says_so_and_one_whose_launch_failed_fails_at_the_launch_step() -> None:

    prs = [PullRequest(n, f"{n:040x}", NOW) for n in (3, 4)]
    failure = "launching an instance failed: EC2 refused the launch: quota; tried again at 12:05 UTC"
    plan = Plan(queue=(QueuedPR(3, 1, launching=True), QueuedPR(4, 2, launch_failure=failure)), busy=2)
    views = build_views(prs, plan, {}, {}, NOW)
    assert (views[3].phase, views[3].detail) == (
        Phase.QUEUED,
        "1st in line, 2 instances busy; an instance is being launched for it",
    )
    assert (views[4].phase, views[4].failed_step, views[4].detail) == (Phase.FAILED, "launch", failure)
