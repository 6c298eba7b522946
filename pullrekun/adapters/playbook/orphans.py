"""Runs left by a dead pass: the next pass, before anything else, ends what their guards'
records name (:mod:`pullrekun.adapters.playbook.guard`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pullrekun.adapters.playbook.guard import GRACE_SECONDS, RECORD_NAME
from pullrekun.adapters.playbook.procs import end_run, read_record


@dataclass(frozen=True)
class Orphan:
    """A run left by a dead pass, and the processes of it that were still running."""

    run_dir: Path
    pids: tuple[int, ...]


def end_orphaned_runs(run_dirs: Iterable[Path], grace: float = GRACE_SECONDS) -> list[Orphan]:
    """End what is left of runs whose guard record is still there; returns what was found.

    A guard removes its record once its run is over, so a record means its pass died without
    the guard finishing (or the guard itself was killed). Whatever still runs of that run (its
    recorded process groups and their descendants) gets SIGTERM, then SIGKILL after ``grace``
    seconds.
    """
    found = []
    for run_dir in run_dirs:
        record = run_dir / RECORD_NAME
        parsed = read_record(str(record))
        if parsed is None:
            continue
        alive = end_run(parsed, grace)
        record.unlink(missing_ok=True)
        if alive:
            found.append(Orphan(run_dir, tuple(alive)))
    return found
