"""Which deploys a run served: never one whose host the run did not take through the deploy."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pullrekun.adapters.playbook.apply import _outcome
from pullrekun.adapters.playbook.inventory import KEEP_GOING_HOST, KEEP_GOING_PLAYS, build_inventory
from pullrekun.adapters.playbook.runner import RunResult, RunStatus
from pullrekun.adapters.playbook.steps_file import read_steps
from pullrekun.config import parse
from pullrekun.core.model import Deploy, Instance, InstanceState, Observed, PullRequest
from pullrekun.core.planner import PlannerConfig, plan
from pullrekun.core.steps import Step

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
CFG = parse(
    {
        "github": {"repository": "acme/webapp"},
        "app": {"repo_url": "/srv/app.git", "command": "run", "deploy_root": "/srv/{host}/app"},
    }
)
DEPLOY = Deploy(1, "i-0000000a", "a" * 40, "pushed")


def _steps_file(tmp_path: Path, *lines: tuple[str, str, list[str]]) -> Path:
    path = tmp_path / "steps.jsonl"
    path.write_text(
        "".join(json.dumps({"host": h, "event": e, "steps": s, "task": "t"}) + "\n" for h, e, s in lines)
    )
    return path


def test_a_skipped_tagged_task_is_passed_but_not_done(tmp_path: Path) -> None:
    steps = read_steps(
        _steps_file(
            tmp_path,
            ("i-a", "ok", ["step_checkout"]),
            ("i-a", "skipped", ["step_health_check"]),
            ("i-b", "failed", ["step_migrate"]),
        )
    )
    assert steps.failed == {"i-b": Step.MIGRATE}
    assert steps.done == {"i-a": frozenset({Step.CHECKOUT})}
    assert steps.passed == {"i-a": frozenset({Step.CHECKOUT, Step.HEALTH_CHECK})}


def _run(status: RunStatus, passed: dict[str, frozenset[Step]]) -> RunResult:
    return RunResult(
        status=status,
        rc=0 if status is RunStatus.SUCCESSFUL else 2,
        private_data_dir="/nonexistent",
        artifacts_dir="/nonexistent/artifacts",
        command=(),
        ok_hosts=frozenset({DEPLOY.instance_id}),
        passed_steps=passed,
    )


def test_a_host_the_run_ended_before_its_deploy_is_not_served() -> None:
    """Seen in an earlier play (a wait) and failed nowhere: the run ended before its deploy."""
    out = _outcome(DEPLOY, None, _run(RunStatus.FAILED, {}))
    assert not out.ok
    assert out.failed_task == "(run)"
    assert out.failed_step == Step.DEPLOY
    out = _outcome(DEPLOY, None, _run(RunStatus.SUCCESSFUL, {DEPLOY.instance_id: frozenset({Step.CHECKOUT})}))
    assert not out.ok
    assert "before the deploy on this host finished" in (out.message or "")


def test_a_host_past_its_deploys_last_check_is_served() -> None:
    out = _outcome(DEPLOY, None, _run(RunStatus.FAILED, {DEPLOY.instance_id: frozenset({Step.HEALTH_CHECK})}))
    assert out.ok


def test_every_play_before_the_deploys_keeps_the_run_going_where_it_has_hosts() -> None:
    """Ansible ends a playbook once every host of a play failed; the keep-going host, in each
    early play that has hosts, is never among them. It is never a deploy."""
    inst = Instance("i-0000000a", InstanceState.STOPPED, "127.0.0.2")
    pr = PullRequest(number=1, head_sha="a" * 40, created_at=NOW, title="t", head_ref="b", author="a")
    p = plan(Observed((pr,), (inst,), ()), PlannerConfig(), NOW)
    groups = build_inventory(p, {inst.instance_id: inst}, CFG)["all"]["children"]
    deploy = groups["pullrekun_deploy"]
    for name in ("pullrekun_deploy_start", "pullrekun_deploy_wait"):
        assert deploy["children"][name]["hosts"], name
        assert list(groups[f"{name}_keep_going"]["hosts"]) == [KEEP_GOING_HOST], name
    for name in ("pullrekun_stop", "pullrekun_start", "pullrekun_switch", "pullrekun_deploy_bootstrap"):
        assert groups[f"{name}_keep_going"]["hosts"] == {}, f"{name} is empty: so is its play"
    assert {f"{n}_keep_going" for n in KEEP_GOING_PLAYS} <= set(groups)
    assert KEEP_GOING_HOST not in deploy["hosts"]
    assert all(KEEP_GOING_HOST not in g["hosts"] for g in deploy["children"].values())


def test_the_playbooks_early_plays_name_their_keep_going_groups_and_leave_at_once() -> None:
    import yaml

    playbooks = Path(__file__).parents[2] / "playbooks"
    plays = yaml.safe_load((playbooks / "reconcile.yml").read_text())
    by_group = {play["hosts"].split(":")[0]: play for play in plays}
    (leave,) = yaml.safe_load((playbooks / "tasks" / "keep-going.yml").read_text())
    assert leave["ansible.builtin.meta"] == "end_host"
    assert leave["when"] == f"inventory_hostname == '{KEEP_GOING_HOST}'"
    for name in KEEP_GOING_PLAYS:
        play = by_group[name]
        assert play["hosts"] == f"{name}:{name}_keep_going", name
        assert play["tasks"][0]["ansible.builtin.import_tasks"] == "tasks/keep-going.yml", name
    assert by_group["pullrekun_deploy"]["hosts"] == "pullrekun_deploy"
