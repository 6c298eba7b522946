"""A PR's own settings: names and values checked, labels read, the dashboard's value winning,
and a change planned as a restart at the same commit."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pullrekun.core.model import Assignment, Deploy, EnvStatus, Instance, InstanceState, Observed, PullRequest
from pullrekun.core.planner import PlannerConfig, plan
from pullrekun.core.settings import SETTING_NAME_RE, effective, from_labels, value_problem

SHA = "a" * 40


def test_names_and_values() -> None:
    assert SETTING_NAME_RE.match("FEATURE_X")
    for bad in ("DB_PASSWORD", "PULLREKUN_PR", "lower", "X-Y", "A" * 65):
        assert not SETTING_NAME_RE.match(bad), bad
    assert value_problem("on") is None
    assert value_problem("v1.2:beta_3-x") is None
    for bad in ("on;reboot", "$(id)", "a b", "x" * 65, "é"):
        assert value_problem(bad) is not None, bad


def test_labels_and_the_dashboards_value() -> None:
    labels = ("env:FEATURE_X=blue", "env:FEATURE_Y=$(id)", "env:OTHER=1", "bug", "env:FEATURE_Z")
    assert from_labels(labels, ["FEATURE_X", "FEATURE_Y", "FEATURE_Z"]) == {"FEATURE_X": "blue"}
    names = ["FEATURE_X", "FEATURE_Y"]
    assert effective({"FEATURE_Y": "on"}, labels, names, True) == (("FEATURE_X", "blue"), ("FEATURE_Y", "on"))
    assert effective({"FEATURE_X": "on"}, labels, names, True) == (("FEATURE_X", "on"),), "the dashboard wins"
    assert effective({}, labels, names, False) == (), "labels off"
    assert effective({"GONE": "1"}, (), names, True) == (), "a name no longer listed"


def test_a_changed_setting_is_a_restart_at_the_same_commit() -> None:
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    pr = PullRequest(3, SHA, now)
    inst = Instance("i-00000001", InstanceState.RUNNING, "127.0.0.2", tag_pr=3, tag_sha=SHA)
    asg = Assignment(3, "i-00000001", EnvStatus.READY, SHA, now)
    world = Observed((pr,), (inst,), (asg,), pr_settings={3: (("FEATURE_X", "on"),)})
    (deploy,) = plan(world, PlannerConfig(), now).of_type(Deploy)
    assert (deploy.sha, deploy.reason, deploy.settings) == (
        SHA,
        "its settings changed",
        (("FEATURE_X", "on"),),
    )
    applied = dataclasses.replace(world, assignments=(dataclasses.replace(asg, settings=deploy.settings),))
    assert plan(applied, PlannerConfig(), now).empty
