"""What a pass returns, and the token that cancels one."""

from __future__ import annotations

import datetime as dt
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pullrekun.adapters.github.client import RequestStats
from pullrekun.adapters.playbook.launch import LaunchOutcome
from pullrekun.adapters.state.journal import DeployOutcome
from pullrekun.app.notices import NoticeResult
from pullrekun.app.reporting import ReportResult
from pullrekun.core.model import Plan

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PassOutcome(enum.StrEnum):
    """How a pass ended; the CLI turns it into an exit code, a long-lived process into a log line."""

    #: The plan was applied and every environment it deployed is ready (or there was nothing to do).
    CLEAN = "clean"
    #: The plan was applied, but an environment or the playbook run failed (recorded, retried later).
    FAILURES = "failures"
    #: GitHub or EC2 could not be read completely: nothing was planned or changed.
    NOT_OBSERVED = "not_observed"


class Cancel:
    """A cancellation token: whoever holds it (a signal handler, a server shutting down) cancels the
    pass's playbook run; outcomes are still recorded. Safe to set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class PassResult:
    outcome: PassOutcome
    plan: Plan | None
    outcomes: tuple[DeployOutcome, ...] = ()
    problem: str = ""
    github: RequestStats | None = None
    artifacts: str | None = None
    report: ReportResult | None = None
    #: The playbook run's end (successful, failed, timeout, canceled, ...); None without a run.
    run_status: str | None = None
    #: The release notices' step (None without a ``[release]`` section).
    notices: NoticeResult | None = None
    #: The launches the pass made before its plan (each with EC2's answer).
    launches: tuple[LaunchOutcome, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is PassOutcome.CLEAN
