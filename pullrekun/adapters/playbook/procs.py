"""The processes of a run, read from ``/proc``, and the record a guard keeps of them.

A run is the process groups its guard records (the guard's own, a warm run's) and every
descendant of their members: Ansible's workers call ``setsid()``, so they and the commands they
start lead sessions and groups of their own, and only their parents tell whose they are. A
process group's members are told apart from a later group that reused the number by their start
times. Only the standard library, no pathlib: the playbook guard, started once per run, imports
this.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Collection, Sequence

#: A process: (pid, start time in clock ticks since boot), which no later process shares.
Process = tuple[int, int]


def _stat(pid: int | str) -> tuple[int, int, int] | None:
    """(parent, process group, start time) of a live, non-zombie process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def group_of(pid: int) -> tuple[int, int] | None:
    """(process group, start time) of a live, non-zombie process."""
    stat = _stat(pid)
    return None if stat is None else (stat[1], stat[2])


def _table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent, process group, start time) of every live, non-zombie process."""
    stats = {int(name): _stat(name) for name in os.listdir("/proc") if name.isdigit()}
    return {pid: stat for pid, stat in stats.items() if stat is not None}


def run_processes(groups: Sequence[tuple[int, int]], known: Collection[Process] = ()) -> set[Process]:
    """The live processes of a run: members of ``groups`` ((pgid, the leader's start time): none
    started before the leader), their descendants, and those of ``known`` still alive (a worker
    whose parent died first is no longer anyone's descendant)."""
    table = _table()
    # A group whose number now names a process started at another time is not the run's: Linux
    # gives a pid out again only once no process uses it, as its own or as its group's.
    since = {g: t for g, t in groups if g not in table or table[g][2] == t}
    found = {(pid, start) for pid, (_, pgid, start) in table.items() if start >= since.get(pgid, start + 1)}
    found |= {(pid, start) for pid, start in known if table.get(pid, (0, 0, -1))[2] == start}
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    todo = [pid for pid, _ in found]
    while todo:
        for child in children.get(todo.pop(), []):
            process = (child, table[child][2])
            if process not in found:
                found.add(process)
                todo.append(child)
    return found


def signal_processes(processes: Collection[Process], sig: int) -> None:
    """Send ``sig`` to each of ``processes`` (one gone already is skipped)."""
    for pid, _ in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def end_run(
    groups: Sequence[tuple[int, int]], grace: float, spare: int = 0, known: Collection[Process] = ()
) -> list[int]:
    """SIGTERM to every process of the run, SIGKILL to what is left after ``grace`` seconds
    (``spare``, the caller, is left alone); returns the pids first found, once none is alive
    (or a second after SIGKILL, for a process the kernel holds in an uninterruptible wait)."""
    first = {p for p in run_processes(groups, known) if p[0] != spare}
    signal_processes(first, signal.SIGTERM)
    seen, killed, deadline = set(first), False, time.monotonic() + grace
    while True:
        alive = {p for p in run_processes(groups, seen) if p[0] != spare}
        if not alive or (killed and time.monotonic() >= deadline):
            return sorted(pid for pid, _ in first)
        signal_processes(alive - seen, signal.SIGKILL if killed else signal.SIGTERM)  # new ones
        seen |= alive
        if not killed and time.monotonic() >= deadline:
            signal_processes(alive, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + 1.0
        time.sleep(0.02)


#: Names this boot of the machine: a record of another boot names no process of this one.
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str:
    with open(BOOT_ID_PATH) as f:
        return f.read().strip()


def read_record(path: str) -> list[tuple[int, int]] | None:
    """The (process group, start time) pairs a guard's record names: its own, then a warm run's.

    None when there is no readable record; no pairs when it was written before the machine last
    started (process numbers and start times begin again at each boot)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        groups = []
        for line in lines:
            if line.startswith("boot "):
                if line.split(" ", 1)[1] != boot_id():
                    return []
                continue
            pid_text, start_text = line.split()
            groups.append((int(pid_text), int(start_text)))
        return groups or None
    except (OSError, ValueError):
        return None


def write_record(path: str, groups: Sequence[tuple[int, int]]) -> None:
    """Replace the record at ``path`` in one step (a reader sees the old one or the new one)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"boot {boot_id()}\n" + "".join(f"{pgid} {start}\n" for pgid, start in groups))
    os.replace(tmp, path)
