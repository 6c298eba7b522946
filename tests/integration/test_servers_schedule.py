"""Developers' servers on a schedule, end to end: moto's EC2, the real pass and playbook.

A server tagged ``pullrekun:schedule=<name>`` is started when its schedule is open and stopped
when it is closed, once per change (a hand start holds until the next one); *Stop now* stops it
until then; the dashboard's read model says what comes next; and the EC2 calls are exactly the
base policy's plus examples/iam-policy-schedules.json, on scheduled servers only.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.readmodel import snapshot
from pullrekun.core import tags as tag
from pullrekun.core.servers import ServerWish
from tests.conftest import LOCAL_FIRST_HOST, run_pass
from tests.paths import REPO
from tests.security.test_iam_policy import _actions, _calls, _moto

ALL_DAYS = ["Mon-Sun"]


def _server(sb: Sandbox, schedule: str, addr: str) -> str:
    ec2 = sb.ec2()
    image = ec2.describe_images()["Images"][0]["ImageId"]
    tags = [
        {"Key": tag.SCHEDULE, "Value": schedule},
        {"Key": tag.ANSIBLE_HOST, "Value": addr},  # never connected to: loopback all the same
        {"Key": "Name", "Value": f"{schedule} box"},
    ]
    made = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return str(made["Instances"][0]["InstanceId"])


def test_servers_follow_their_schedules_once_per_change(tmp_path: Path) -> None:
    from moto.moto_api import recorder

    today = dt.datetime.now(dt.UTC).date()
    holidays = [str(today + dt.timedelta(days=d)) for d in (-1, 0, 1)]
    schedules = {
        # Open all day every day (a window to the next midnight), and closed these three days.
        "open": {"days": ALL_DAYS, "start": "00:00", "end": "00:00"},
        "closed": {"days": ALL_DAYS, "start": "00:00", "end": "00:00", "holidays": holidays},
    }
    sb = Sandbox(
        root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST, extra_config={"schedules": schedules}
    ).start()
    store = Store.open(sb.state_db_url)
    recorder._location = str(tmp_path / "moto-recording")
    try:
        early = _server(sb, "open", sb.host_addrs[0])
        late = _server(sb, "closed", sb.host_addrs[0])
        pool_member = sb.instance_ids[0]
        sb.ec2().stop_instances(InstanceIds=[early])
        _moto(sb, "reset-recording")
        _moto(sb, "start-recording")
        try:
            assert run_pass(sb).ok
            assert (sb.instance_state(early), sb.instance_state(late)) == ("running", "stopped")
            kinds = [(e.kind, e.instance_id) for e in store.events.recent(limit=10)]
            assert ("server_started", early) in kinds
            assert ("server_stopped", late) in kinds

            sb.ec2().start_instances(InstanceIds=[late])  # its developer starts it by hand
            assert run_pass(sb).ok
            assert sb.instance_state(late) == "running", "a hand start holds until the next change"

            store.servers.wish(early, ServerWish.STOP, dt.datetime.now(dt.UTC), "local:ada")
            assert run_pass(sb).ok
            assert sb.instance_state(early) == "stopped", "stop now"
            assert run_pass(sb).ok
            assert sb.instance_state(early) == "stopped", "until the schedule's next change"
        finally:
            _moto(sb, "stop-recording")
        calls = _calls(_moto(sb, "download-recording", "GET"))
        cfg = config_mod.load(sb.config_path)
        views = {s.instance_id: s for s in snapshot(cfg, store).servers}
        assert set(views) == {early, late}, "pool members are not servers"
        assert (views[early].schedule, views[early].next_start, views[early].wish) == ("open", False, "stop")
        assert views[late].next_start is True
        opens = views[late].next_change
        assert opens is not None
        assert opens.date() == today + dt.timedelta(days=2)
    finally:
        store.close()
        sb.stop()
    switched = [c for c in calls if c["Action"][0] in {"StartInstances", "StopInstances"}]
    touched = {v[0] for c in switched for k, v in c.items() if k.startswith("InstanceId.")}
    assert touched == {early, late}, "only servers on a schedule are started or stopped"
    assert pool_member not in touched
    base = _actions(json.loads((REPO / "examples" / "iam-policy.json").read_text()))
    extra: dict[str, Any] = json.loads((REPO / "examples" / "iam-policy-schedules.json").read_text())
    used = {f"ec2:{c['Action'][0]}" for c in calls}
    assert used <= base | _actions(extra)
    (statement,) = extra["Statement"]
    assert statement["Condition"] == {"Null": {f"aws:ResourceTag/{tag.SCHEDULE}": "false"}}
