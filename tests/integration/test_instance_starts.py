"""A pass starts the stopped instances its deploys need in one task (one module process on the
controller, not one per host), and an instance EC2 refuses to start fails only its own
environment."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import run_pass, status_of

ALL = "Start the instances (all in one task)."
ALONE = "Start the instance on its own (the task for all of them failed)."


def tasks_run(artifacts: str | None) -> Counter[str]:
    """How many times each task ran (on a host, or once for all) in a pass's playbook run."""
    assert artifacts
    ran: Counter[str] = Counter()
    for path in (Path(artifacts) / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        if event.get("event") in {"runner_on_ok", "runner_on_failed", "runner_on_unreachable"}:
            ran[str(event["event_data"]["task"])] += 1
    return ran


@pytest.fixture
def start_requests() -> Iterator[tuple[list[list[str]], set[str]]]:
    """Every StartInstances request moto's EC2 (in this process) gets, and the instance ids it
    refuses to start, as EC2 does without capacity."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.instances import InstanceBackend

    requests: list[list[str]] = []
    refused: set[str] = set()
    original = InstanceBackend.start_instances

    def start_instances(self: Any, instance_ids: list[str]) -> Any:
        requests.append(list(instance_ids))
        if refused & set(instance_ids):
            raise EC2ClientError(
                "InsufficientInstanceCapacity",
                f"We currently do not have sufficient capacity for {sorted(refused & set(instance_ids))}",
            )
        return original(self, instance_ids)

    InstanceBackend.start_instances = start_instances  # type: ignore[method-assign]
    try:
        yield requests, refused
    finally:
        InstanceBackend.start_instances = original  # type: ignore[method-assign]


def test_one_call_starts_every_instance_and_a_refused_one_fails_only_its_environment(
    local_sandbox: Sandbox, start_requests: tuple[list[list[str]], set[str]]
) -> None:
    sb = local_sandbox
    requests, refused = start_requests
    heads = dict(sb.open_pr(f"s{i}", f"start {i}") for i in range(1, 3))
    result = run_pass(sb)
    assert result.ok
    ran = tasks_run(result.outcomes[0].artifacts)
    assert (ran[ALL], ran[ALONE]) == (1, 0), "one module run started both instances"
    assert sorted(map(len, requests)) == [1, 1]
    envs = {s["pr"]: s for s in status_of(sb)["environments"] if s["pr"] is not None}
    assert {envs[pr]["status"] for pr in heads} == {"ready"}

    # The third instance is the only one still stopped: EC2 refuses it, in a call with another.
    (stopped,) = set(sb.instance_ids) - {envs[pr]["instance_id"] for pr in heads}
    refused.add(stopped)
    ec2 = sb.ec2()
    moved = envs[min(heads)]["instance_id"]
    sb.github.close(min(heads))
    assert run_pass(sb).ok  # its instance is stopped
    heads.pop(min(heads))
    requests.clear()
    new = dict(sb.open_pr(f"s{i}", f"start {i}") for i in range(3, 5))
    result = run_pass(sb)
    assert not result.ok
    ran = tasks_run(result.outcomes[0].artifacts)
    assert (ran[ALL], ran[ALONE]) == (1, 2), "the task for all failed, then one for each instance"
    asked = [i for (i,) in requests]
    assert (asked.count(stopped), asked.count(moved)) == (2, 1), "the refused one asked for again, alone"
    envs = {s["pr"]: s for s in status_of(sb)["environments"] if s["pr"] is not None}
    bad = [pr for pr in new if envs[pr]["instance_id"] == stopped]
    (good,) = set(new) - set(bad)
    assert len(bad) == 1
    assert envs[bad[0]]["status"] == "failed"
    assert envs[bad[0]]["failed_step"] == "start"
    assert "sufficient capacity" in (envs[bad[0]]["message"] or ""), "the failure says what EC2 said"
    assert envs[good]["status"] == "ready"
    assert sb.served(sb.addr_of(envs[good]["instance_id"])) == new[good]
    state = ec2.describe_instances(InstanceIds=[stopped])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "stopped"
