"""What each PR is told: views from the plan and the state DB, steps, queue wording."""

from __future__ import annotations

import datetime as dt

import pytest

from pullrekun.adapters.github.client import _parse_reset
from pullrekun.adapters.github.publish import cap
from pullrekun.core.model import EnvStatus, Plan, PullRequest, QueuedPR, SkippedPR, StartInstance
from pullrekun.core.views import EnvironmentView, build_views, failed_step, ordinal, queue_text

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def pr(n: int, sha: str = "a") -> PullRequest:
    return PullRequest(n, sha * 40, NOW)


@pytest.mark.parametrize(
    ("task", "message", "step"),
    [
        ("Start the instance.", "boom", "start"),
        ("Wait until the started instance answers.", "timeout", "start"),
        ("Deploy the commit.", "host unreachable: ssh: connect refused", "start"),
        ("Clone the environment's database schema.", "unknown schema", "schema"),
        (
            "Fail with the task that broke the deploy.",
            "Run the migrate command in the new release.: rc 1",
            "migrate",
        ),
        (
            "Fail with the task that broke the deploy.",
            "Restart the app if the release or its settings changed, and wait ...: health check failed: x",
            "health check",
        ),
        (
            "Fail with the task that broke the deploy.",
            "Restart the app's service on the new release: no",
            "restart",
        ),
        (
            "Fail with the task that broke the deploy.",
            "Ensure the release for the commit is present (cached clone...): unknown revision",
            "checkout",
        ),
        ("(run)", "timeout", "deploy"),
    ],
)
def test_a_failure_is_named_by_the_step_a_person_can_act_on(task: str, message: str, step: str) -> None:
    assert failed_step(task, message) == step


def test_queue_wording_uses_ordinals_and_stops_counting_far_back() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
    assert queue_text(3, 4, 10) == "3rd in line, 4 slots busy"
    assert queue_text(1, 1, 10) == "1st in line, 1 slot busy"
    assert (
        queue_text(11, 4, 10)
        == queue_text(250, 4, 10)
        == "waiting for a slot, behind 10+ others; 4 slots busy"
    )


def test_views_cover_queued_skipped_deploying_ready_and_failed() -> None:
    envs = {
        1: EnvironmentView(1, "i-00000001", "running", EnvStatus.READY, "a" * 40, NOW, "http://h/"),
        2: EnvironmentView(2, "i-00000002", "running", EnvStatus.DEPLOYING, None, NOW, "http://h2/"),
        3: EnvironmentView(3, "i-00000003", "running", EnvStatus.FAILED, None, NOW, "",
                           failed_task="Start the instance.", message="first line\nout 1\nout 2"),
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
    assert views[4].detail == "1st in line, 4 slots busy"
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
