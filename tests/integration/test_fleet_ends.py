"""The fleet's ends: a pass killed during a launch never launches twice for one need; orphans
are swept every pass; termination protection keeps an instance, said once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun.app import crashpoint
from pullrekun.core import tags as tag
from pullrekun.core.fleet import TerminateInstance
from tests.conftest import run_pass, status_of
from tests.integration.fleet_helpers import events, pass_at, status_text
from tests.integration.test_crash_points import CRASH_ENV, HERE

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")

#: The launch playbook's task: once it has run, EC2 made the instance.
LAUNCH_TASK = "Ensure the launch's instance exists (once per client token)."


@pytest.mark.parametrize("point", [crashpoint.LAUNCH_POINTS[0], LAUNCH_TASK, crashpoint.LAUNCH_POINTS[1]])
def test_a_pass_killed_during_a_launch_never_launches_twice_for_one_need(
    fleet_sandbox: Sandbox, point: str
) -> None:
    """Killed with the launch recorded and not made, made and not seen, seen and not recorded:
    the next pass asks EC2 with the same token (or finds the instance by its tag), adopts it,
    bootstraps it and deploys the waiting PR; one instance for that need, ever."""
    sb = fleet_sandbox
    sb.extra_config = {"ansible": {"pass_env": CRASH_ENV}}
    sb.write_config()
    opened = [sb.open_pr(f"f{i}", f"hello {i}") for i in range(3)]
    marker = sb.root / "crash-marker"
    env = {
        **os.environ,
        "PULLREKUN_CRASH_AT": point,
        "PULLREKUN_CRASH_MARKER": str(marker),
        "PULLREKUN_CRASH_MODE": "group",
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "crash_at",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "reconcile"],
        env=env, capture_output=True, text=True, timeout=300, check=False, start_new_session=True,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker.read_text().strip() == point, "the kill landed somewhere else"
    made = sb.launched()
    assert len(made) == (0 if point == crashpoint.LAUNCH_POINTS[0] else 1)

    result = run_pass(sb)
    assert result.ok, (result.problem, result.outcomes)
    (iid,) = sb.launched()
    assert iid in made or not made, "the instance EC2 made for the need is the one used"
    assert sb.served(sb.addr_of(iid)) == opened[2][1]
    assert len(events(sb, "launch_requested")) == 1, "one launch for one need"
    assert run_pass(sb).launches == ()
    assert len(sb.launched()) == 1


def test_orphans_are_swept_every_pass_and_shown(local_sandbox: Sandbox) -> None:
    """An instance tagged by hand for a PR nobody knows, and one left running by a PR whose
    record went with a lost state DB: the next pass stops both, clears their tags, and `status`
    says what the sweep did."""
    sb = local_sandbox
    ec2 = sb.ec2()
    number, sha = sb.open_pr("kept", "kept")
    assert run_pass(sb).ok
    (held,) = [iid for iid in sb.instance_ids if sb.served(sb.addr_of(iid)) == sha]
    stray = next(iid for iid in sb.instance_ids if iid != held)
    ec2.create_tags(Resources=[stray], Tags=[{"Key": tag.PR, "Value": "99"}])
    ec2.start_instances(InstanceIds=[stray])
    sb.github.close(number)
    Path(sb.state_db_url.removeprefix("sqlite:///")).unlink()  # the state DB is lost
    assert run_pass(sb).ok
    assert sb.instance_state(stray) == "stopped"
    assert sb.instance_state(held) == "stopped"
    assert tag.PR not in sb.instance_tags(stray)
    assert tag.PR not in sb.instance_tags(held)
    assert sb.served(sb.addr_of(held)) is None
    swept = {s["instance_id"]: s["message"] for s in status_of(sb)["sweeps"] if s["kind"] == "swept"}
    assert swept[stray].startswith("stopped: tagged for PR #99, which holds no instance")
    assert swept[held].startswith(f"stopped: tagged for PR #{number}, which holds no instance")


def test_termination_protection_keeps_a_launched_instance_and_is_said_once(fleet_sandbox: Sandbox) -> None:
    sb = fleet_sandbox
    opened = [sb.open_pr(f"f{i}", f"hello {i}") for i in range(3)]
    assert run_pass(sb).ok
    (iid,) = sb.launched()
    sb.ec2().modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    for number, _ in opened:
        sb.github.close(number)
    assert run_pass(sb).ok
    refused = pass_at(sb, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    assert refused.plan is not None
    assert [t.instance_id for t in refused.plan.of_type(TerminateInstance)] == [iid]
    assert sb.launched() == {iid: "stopped"}
    (said,) = events(sb, "terminate_refused")
    assert "OperationNotPermitted" in said
    (launch,) = status_of(sb)["fleet"]["launches"]
    assert launch["protected"] is True
    assert "termination protection is on (kept)" in status_text(sb)
    kept = pass_at(sb, dt.datetime.now(dt.UTC) + dt.timedelta(hours=3))
    assert kept.ok
    assert kept.plan is not None
    assert kept.plan.of_type(TerminateInstance) == ()
    assert any("termination protection is on: kept" in note for note in kept.plan.notes)
    assert len(events(sb, "terminate_refused")) == 1
