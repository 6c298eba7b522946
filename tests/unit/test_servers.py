"""Developers' servers on a schedule: started at each opening, stopped at each closing, left
alone in between (a hand start at night holds until the next change), Start now / Stop now."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from pullrekun.core.model import Observed
from pullrekun.core.planner import PlannerConfig, plan
from pullrekun.core.schedules import Schedule
from pullrekun.core.servers import MarkServer, Server, ServerRecord, ServerWish, SwitchServer, switch_servers

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
OFFICE = Schedule("office", frozenset(range(5)), dt.time(9), dt.time(19), TOKYO, "Asia/Tokyo")
SCHEDULES = {"office": OFFICE}
MON_OPEN = dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.UTC)  # Monday 09:00 in Tokyo
MON_NOON = MON_OPEN + dt.timedelta(hours=3)
MON_NIGHT = MON_OPEN + dt.timedelta(hours=12)  # 21:00, closed since 19:00
MON_CLOSE = MON_OPEN + dt.timedelta(hours=10)
IID = "i-0000000a"


def server(state: str, schedule: str = "office") -> Server:
    return Server(IID, state, schedule, "alice's box")


def switches(state: str, record: ServerRecord | None, now: dt.datetime) -> list[SwitchServer | MarkServer]:
    records = {IID: record} if record is not None else {}
    return switch_servers([server(state)], records, SCHEDULES, now)[0]


def test_started_at_the_opening_and_stopped_at_the_closing() -> None:
    assert switches("stopped", None, MON_NOON) == [
        SwitchServer(IID, True, "schedule office is open", MON_OPEN)
    ], "first sight: as the schedule wants"
    done = ServerRecord(IID, handled=MON_OPEN)
    assert switches("running", done, MON_NOON) == [], "the opening is acted on: nothing more"
    assert switches("running", done, MON_NIGHT) == [
        SwitchServer(IID, False, "schedule office is closed", MON_CLOSE)
    ]


def test_a_server_started_by_hand_at_night_is_left_until_the_next_change() -> None:
    closed = ServerRecord(IID, handled=MON_CLOSE)
    assert switches("running", closed, MON_NIGHT) == [], "the closing was acted on: a hand start holds"
    tuesday = MON_OPEN + dt.timedelta(days=1, hours=1)
    assert switches("stopped", closed, tuesday) == [
        SwitchServer(IID, True, "schedule office is open", MON_OPEN + dt.timedelta(days=1))
    ]


def test_already_as_wanted_the_change_is_only_recorded() -> None:
    assert switches("stopped", ServerRecord(IID, handled=MON_OPEN), MON_NIGHT) == [MarkServer(IID, MON_CLOSE)]


def test_start_now_holds_until_the_next_change() -> None:
    asked = ServerRecord(IID, MON_CLOSE, ServerWish.START, MON_NIGHT, "local:ann")
    later = MON_NIGHT + dt.timedelta(hours=1)
    assert switches("stopped", asked, later) == [
        SwitchServer(IID, True, "start now, asked by local:ann", MON_CLOSE, "local:ann")
    ]
    assert switches("running", asked, later) == []
    tuesday_open = MON_OPEN + dt.timedelta(days=1)
    assert switches("running", asked, tuesday_open + dt.timedelta(minutes=1)) == [
        MarkServer(IID, tuesday_open)
    ]
    stop = ServerRecord(IID, MON_OPEN, ServerWish.STOP, MON_NOON, "local:bo")
    assert switches("running", stop, MON_NOON) == [
        SwitchServer(IID, False, "stop now, asked by local:bo", MON_OPEN, "local:bo")
    ]


def test_unknown_schedules_and_settling_states_are_left_alone_with_a_note() -> None:
    actions, notes = switch_servers([server("stopped", "nope")], {}, SCHEDULES, MON_NOON)
    assert actions == []
    assert notes == [f"server {IID}: no schedule named 'nope' in the config; left alone"]
    actions, notes = switch_servers([server("stopping")], {}, SCHEDULES, MON_NOON)
    assert actions == []
    assert notes == [f"server {IID} is stopping; switched once it settles"]


def test_the_planner_carries_the_switches() -> None:
    observed = Observed((), (), (), servers=(server("stopped"),))
    p = plan(observed, PlannerConfig(schedules=SCHEDULES), MON_NOON)
    assert p.of_type(SwitchServer) == (SwitchServer(IID, True, "schedule office is open", MON_OPEN),)


def test_only_tagged_servers_outside_the_pool_and_within_its_limits_are_servers() -> None:
    from pullrekun.adapters.ec2 import _server

    def desc(tags: dict[str, str], vpc: str = "vpc-1") -> dict[str, object]:
        return {
            "InstanceId": IID,
            "State": {"Name": "stopped"},
            "VpcId": vpc,
            "SubnetId": "subnet-1",
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }

    mine = {"pullrekun:schedule": "office", "Name": "alice's box"}
    assert _server(desc(mine), (), ()) == Server(IID, "stopped", "office", "alice's box")
    assert _server(desc({**mine, "pullrekun:pool": "default"}), (), ()) is None, "a pool member"
    assert _server(desc(mine, vpc="vpc-2"), ("vpc-1",), ()) is None, "outside ec2.vpc_ids"
    assert _server(desc(mine), (), ("subnet-9",)) is None, "outside ec2.subnet_ids"
    assert _server(desc({"pullrekun:schedule": "$(reboot)"}), (), ()) is None, "no schedule's name"
