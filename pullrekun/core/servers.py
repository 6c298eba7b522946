"""Developers' own servers on a schedule (pullre-kun's ``auto_switch_server``). Pure.

An instance tagged ``pullrekun:schedule=<name>`` (and not a pool member) is started when its
named schedule opens and stopped when it closes. The planner acts at each opening and closing
it has not acted on yet (recorded per server), not on every pass: a developer who starts their
server by hand at night keeps it until the next change of the schedule. *Start now* / *Stop
now* hold until the schedule's next change.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pullrekun.core.schedules import Schedule
from pullrekun.core.validate import check_instance_id

_UP = frozenset({"pending", "running"})
_SETTLING = frozenset({"stopping", "shutting-down"})


class ServerWish(enum.StrEnum):
    START = "start"
    STOP = "stop"


@dataclass(frozen=True)
class Server:
    """A developer's server as EC2 describes it."""

    instance_id: str
    #: EC2's state name ("running", "stopped"...).
    state: str
    #: Its ``pullrekun:schedule`` tag: the name of a ``[schedules.<name>]`` table.
    schedule: str
    #: Its ``Name`` tag (display only).
    name: str = ""

    def __post_init__(self) -> None:
        check_instance_id(self.instance_id)


@dataclass(frozen=True)
class ServerRecord:
    """What pullrekun recorded of a server: the last schedule change acted on, and a *Start now*
    / *Stop now* asked (with when and by whom)."""

    instance_id: str
    handled: dt.datetime | None = None
    wish: ServerWish | None = None
    wish_at: dt.datetime | None = None
    actor: str | None = None


@dataclass(frozen=True)
class SwitchServer:
    """Start (``running``) or stop a developer's server; on success the schedule change
    ``handled`` is recorded as acted on."""

    instance_id: str
    running: bool
    reason: str
    handled: dt.datetime | None = None
    actor: str | None = None


@dataclass(frozen=True)
class MarkServer:
    """The server already is as its schedule wants at this change: record the change as acted on."""

    instance_id: str
    handled: dt.datetime | None


def wish_holds(record: ServerRecord | None, schedule: Schedule, now: dt.datetime) -> bool:
    """A *Start now* / *Stop now* holds until the schedule's next change after it was asked."""
    if record is None or record.wish is None or record.wish_at is None:
        return False
    last = schedule.last_change(now)
    return last is None or last <= record.wish_at


def switch_servers(
    servers: Sequence[Server],
    records: Mapping[str, ServerRecord],
    schedules: Mapping[str, Schedule],
    now: dt.datetime,
) -> tuple[list[SwitchServer | MarkServer], list[str]]:
    """The starts and stops the schedules (and people's wishes) ask for now, and notes."""
    actions: list[SwitchServer | MarkServer] = []
    notes: list[str] = []
    for server in sorted(servers, key=lambda s: s.instance_id):
        schedule = schedules.get(server.schedule)
        iid = server.instance_id
        if schedule is None:
            notes.append(f"server {iid}: no schedule named {server.schedule!r} in the config; left alone")
            continue
        record = records.get(iid)
        known = record.handled if record is not None else None
        last = schedule.last_change(now)
        if wish_holds(record, schedule, now):
            assert record is not None
            want = record.wish == ServerWish.START
            why, handled, actor = (
                f"{record.wish} now, asked by {record.actor or 'someone'}",
                known,
                record.actor,
            )
        elif record is None or known is None or (last is not None and known < last):
            want = schedule.is_open(now)
            state = "open" if want else "closed"
            why, handled, actor = f"schedule {schedule.name} is {state}", last, None
        else:
            continue
        if server.state in _SETTLING:
            notes.append(f"server {iid} is {server.state}; switched once it settles")
            continue
        if (server.state in _UP) == want:
            if handled != known:
                actions.append(MarkServer(iid, handled))
            continue
        actions.append(SwitchServer(iid, want, why, handled, actor))
    return actions, notes
