"""The IAM policy the README publishes allows exactly the EC2 calls pullrekun makes.

moto records every request of two passes (deploy a PR, then close it): its actions must be the
policy's actions, and its tag writes must touch only pullrekun:pr and pullrekun:sha, which the
policy's condition allows.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.hostkeys import pin_console_keys
from pullrekun.app.pool import read_pool
from pullrekun.core import tags as tag
from pullrekun.core.model import Deploy, Plan
from tests.conftest import LOCAL_FIRST_HOST, run_pass
from tests.integration.fleet_helpers import pass_at
from tests.paths import REPO

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


def _moto(sb: Sandbox, action: str, method: str = "POST") -> str:
    request = urllib.request.Request(f"{sb.ec2_url}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(answer.read().decode())


def _calls(recording: str) -> list[dict[str, list[str]]]:
    calls = []
    for line in recording.splitlines():
        entry = json.loads(line)
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode()
        form = urllib.parse.parse_qs(body) if entry["method"] == "POST" else {}
        if "Action" in form:  # EC2's query API; the rest is moto's own
            calls.append(form)
    return calls


def test_the_published_policy_allows_exactly_what_a_pass_does(local_sandbox: Sandbox, tmp_path: Path) -> None:
    from moto.moto_api import recorder

    sb = local_sandbox
    recorder._location = str(tmp_path / "moto-recording")
    _moto(sb, "reset-recording")
    _moto(sb, "start-recording")
    try:
        number, head = sb.open_pr("iam", "iam")
        assert run_pass(sb).ok
        sb.github.close(number)
        assert run_pass(sb).ok
        # Over SSH, a first contact reads the instance's console for its host keys (this sandbox
        # runs its hosts locally, so that step is taken here as a pass over SSH takes it).
        cfg = config_mod.load(sb.config_path)
        over_ssh = dataclasses.replace(
            cfg, ansible=dataclasses.replace(cfg.ansible, connection="ssh", known_hosts=str(tmp_path / "kh"))
        )
        pool = read_pool(cfg).by_id()
        first = next(iter(pool))
        pin_console_keys(over_ssh, Plan(actions=(Deploy(number, first, head, "iam"),)), pool)
    finally:
        _moto(sb, "stop-recording")
    calls = _calls(_moto(sb, "download-recording", "GET"))
    used = {f"ec2:{c['Action'][0]}" for c in calls}
    policy: dict[str, Any] = json.loads((REPO / "examples" / "iam-policy.json").read_text())
    allowed = _actions(policy)
    assert used == allowed, f"used {sorted(used)}, allowed {sorted(allowed)}"
    written = _tag_keys_written(calls)
    assert written == {tag.PR, tag.SHA}
    (keys,) = [s for s in policy["Statement"] if "ec2:CreateTags" in s["Action"]]
    assert set(keys["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]) == written


def test_registering_and_retiring_need_only_the_pool_admin_policy(
    local_sandbox: Sandbox, tmp_path: Path
) -> None:
    """With people's pool requests, the EC2 calls beyond the base policy are exactly those of
    examples/iam-policy-pool-admin.json: the pool tag written on a registered instance, and the
    pool, PR and commit tags removed from a retired one."""
    import datetime as dt

    from moto.moto_api import recorder

    from pullrekun.core.model import InstanceWish

    sb = local_sandbox
    outside = sb.add_instance(sb.host_addrs[-1], pool=None)
    sb.ec2().stop_instances(InstanceIds=[outside])
    store = Store.open(sb.state_db_url)
    recorder._location = str(tmp_path / "moto-recording")
    _moto(sb, "reset-recording")
    _moto(sb, "start-recording")
    try:
        store.requests.instance_wish(outside, InstanceWish.REGISTER, dt.datetime.now(dt.UTC), "local:ada")
        assert run_pass(sb).ok
        store.requests.instance_wish(outside, InstanceWish.RETIRE, dt.datetime.now(dt.UTC), "local:ada")
        assert run_pass(sb).ok
    finally:
        _moto(sb, "stop-recording")
        store.close()
    assert tag.POOL not in sb.instance_tags(outside)
    writes = [
        c
        for c in _calls(_moto(sb, "download-recording", "GET"))
        if c["Action"][0] in {"CreateTags", "DeleteTags"}
    ]
    admin: dict[str, Any] = json.loads((REPO / "examples" / "iam-policy-pool-admin.json").read_text())
    allowed = {s["Action"][0].removeprefix("ec2:"): s["Condition"] for s in admin["Statement"]}
    assert {c["Action"][0] for c in writes} == set(allowed)
    for call in writes:
        condition = allowed[call["Action"][0]]
        keys = {v[0] for k, v in call.items() if k.startswith("Tag.") and k.endswith(".Key")}
        assert keys <= set(condition["ForAllValues:StringEquals"]["aws:TagKeys"]), call
        if call["Action"][0] == "CreateTags":
            values = {v[0] for k, v in call.items() if k.startswith("Tag.") and k.endswith(".Value")}
            assert values == {condition["StringEquals"]["aws:RequestTag/pullrekun:pool"]}


def test_launching_and_terminating_need_only_the_launch_policy(tmp_path: Path) -> None:
    """With a launch template, the EC2 calls beyond the base policy are exactly those of
    examples/iam-policy-launch.json: RunInstances (from the template, tagged managed, pool and
    launch token at creation) and TerminateInstances (of what it launched); nothing tags an
    instance after the fact but the base policy's PR and commit tags."""
    from moto.moto_api import recorder

    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST, launch_hosts=1).start()
    recorder._location = str(tmp_path / "moto-recording")
    try:
        _moto(sb, "reset-recording")
        _moto(sb, "start-recording")
        try:
            opened = [sb.open_pr(f"iam{i}", f"iam {i}")[0] for i in range(2)]
            assert run_pass(sb).ok
            assert len(sb.launched()) == 1
            for number in opened:
                sb.github.close(number)
            assert run_pass(sb).ok
            assert pass_at(sb, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).ok  # scale-in
            assert sb.launched() == {}
        finally:
            _moto(sb, "stop-recording")
        calls = _calls(_moto(sb, "download-recording", "GET"))
    finally:
        sb.stop()
    used = {f"ec2:{c['Action'][0]}" for c in calls}
    base = _actions(json.loads((REPO / "examples" / "iam-policy.json").read_text()))
    launch = json.loads((REPO / "examples" / "iam-policy-launch.json").read_text())
    # Tags given at creation are authorised as ec2:CreateTags (with ec2:CreateAction =
    # RunInstances), and the instance profile's role as iam:PassRole: neither is a call of its own.
    assert used - base == _actions(launch) - {"iam:PassRole", "ec2:CreateTags"}
    (on_create,) = [s for s in launch["Statement"] if "ec2:CreateTags" in s["Action"]]
    assert on_create["Condition"] == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
    (run,) = [c for c in calls if c["Action"][0] == "RunInstances"]
    created = {
        v[0]: run[k.replace(".Key", ".Value")][0]
        for k, v in run.items()
        if k.startswith("TagSpecification.1.Tag.") and k.endswith(".Key")
    }
    assert created == {tag.POOL: "default", tag.MANAGED: "true", tag.LAUNCH: created[tag.LAUNCH]}
    (first,) = [s for s in launch["Statement"] if s["Sid"] == "LaunchOnlyFromThePoolsTemplateAndTagged"]
    requested = {k.removeprefix("aws:RequestTag/"): v for k, v in first["Condition"]["StringEquals"].items()}
    assert requested == {tag.MANAGED: "true", tag.POOL: "default"}
    assert _tag_keys_written(calls) <= {tag.PR, tag.SHA}, "after launch, only the base policy's tags"


def _tag_keys_written(calls: list[dict[str, list[str]]]) -> set[str]:
    """The tag keys CreateTags and DeleteTags calls wrote (tags at launch are RunInstances')."""
    return {
        value[0]
        for c in calls
        if c["Action"][0] in {"CreateTags", "DeleteTags"}
        for key, value in c.items()
        if key.startswith("Tag.") and key.endswith(".Key")
    }


def _actions(policy: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        actions = statement["Action"]
        found |= {actions} if isinstance(actions, str) else set(actions)
    return found
