"""Runs left by a dead pass: the next pass, before anything else, ends what their guards'
records name (:mod:`pullrekun.adapters.playbook.guard`)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pullrekun.adapters.playbook.guard import GRACE_SECONDS, RECORD_NAME
from pullrekun.adapters.playbook.procs import group_members, group_of, read_record


@dataclass(frozen=True)
class Orphan:
    """A run left by a dead pass, and the processes of it that were still running."""

    run_dir: Path
    pids: tuple[int, ...]


def end_orphaned_runs(run_dirs: Iterable[Path], grace: float = GRACE_SECONDS) -> list[Orphan]:
    """End what is left of runs whose guard record is still there; returns what was found.

    A guard removes its record when it exits normally, so a record means its pass died
    without the guard finishing (or the guard itself was killed). Whatever still runs in that
    run's process group gets SIGTERM, then SIGKILL after ``grace`` seconds.
    """
    found = []
    for run_dir in run_dirs:
        record = run_dir / RECORD_NAME
        parsed = read_record(str(record))
        if parsed is None:
            continue
        alive = [pid for pgid, since in parsed for pid in group_members(pgid, since)]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        left = alive
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if group_of(p) is not None]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        record.unlink(missing_ok=True)
        if alive:
            found.append(Orphan(run_dir, tuple(alive)))
    return found
