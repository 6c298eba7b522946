"""The processes of a run, read from ``/proc``: a process group's members, told apart from a
later group that reused the number by their start times. Only the standard library."""

from __future__ import annotations

from pathlib import Path


def group_of(pid: int) -> tuple[int, int] | None:
    """(process group, start time) of a live, non-zombie process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
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
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        info = group_of(int(entry.name))
        if info is not None and info[0] == pgid and info[1] >= since:
            members.append(int(entry.name))
    return sorted(members)
