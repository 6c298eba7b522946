"""The processes of a run, read from ``/proc``, and the record a guard keeps of them.

A process group's members are told apart from a later group that reused the number by their
start times. Only the standard library, no pathlib: the playbook guard, started once per run,
imports this.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def group_of(pid: int) -> tuple[int, int] | None:
    """(process group, start time) of a live, non-zombie process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[2]), int(fields[19])


def group_members(pgid: int, since: int) -> list[int]:
    """Live processes of group ``pgid`` started no earlier than ``since`` (clock ticks).

    The start time tells the run's processes from a later group that reused the number.
    """
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        info = group_of(int(name))
        if info is not None and info[0] == pgid and info[1] >= since:
            members.append(int(name))
    return sorted(members)


def read_record(path: str) -> list[tuple[int, int]] | None:
    """The (process group, start time) pairs a guard's record names: its own, then a warm run's."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        groups = []
        for line in lines:
            pid_text, start_text = line.split()
            groups.append((int(pid_text), int(start_text)))
        return groups or None
    except (OSError, ValueError):
        return None


def write_record(path: str, groups: Sequence[tuple[int, int]]) -> None:
    """Replace the record at ``path`` in one step (a reader sees the old one or the new one)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(f"{pgid} {start}\n" for pgid, start in groups))
    os.replace(tmp, path)
