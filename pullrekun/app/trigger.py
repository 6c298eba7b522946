"""When `pullrekun serve` runs a pass: soon after something happened, and on a timer anyway.

A webhook delivery (or a dashboard request) *pokes* the trigger; it never carries the truth,
only the news that GitHub may have changed. The trigger's worker thread turns pokes into
passes:

- the first poke after a quiet spell starts a pass at once;
- pokes that arrive while a pass runs, or less than ``settle`` seconds after it ended, cause
  exactly one follow-up pass, however many there were, started ``settle`` seconds after the
  previous one ended (the rest of a burst, GitHub sends several deliveries for one push, rides
  on it);
- with no poke for ``interval`` seconds a pass runs anyway (the safety net the timer was);
- a pass that finds the lock held by another controller is retried after ``busy_retry``.

The pass itself is a callable (``reconcile`` in production); what it returns is recorded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: What a pass callable reports: "busy" means another pass held the lock (retried).
PassRun = Callable[[], str]


@dataclass(frozen=True)
class PassRecord:
    #: "webhook", "timer", "request", "retry" ... (the first poke's reason when several coalesced).
    reason: str
    #: How many pokes this pass answers (0 for the timer).
    pokes: int
    #: monotonic seconds: when the first of those pokes arrived, when the pass started and ended.
    poked_at: float | None
    started: float
    finished: float
    result: str


@dataclass
class _Pending:
    reason: str = ""
    count: int = 0
    first_at: float | None = None


@dataclass
class PassTrigger:
    run_pass: PassRun
    interval: float = 300.0
    settle: float = 0.2
    busy_retry: float = 5.0
    clock: Callable[[], float] = time.monotonic
    #: The passes run so far (newest last, bounded), for /healthz, metrics and tests.
    history: list[PassRecord] = field(default_factory=list)
    history_limit: int = 1000
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _pending: _Pending = field(default_factory=_Pending, init=False, repr=False)
    _stop: bool = field(default=False, init=False, repr=False)
    _running: bool = field(default=False, init=False, repr=False)

    def poke(self, reason: str) -> None:
        """Ask for a pass soon (thread-safe, never blocks on a running pass)."""
        with self._cond:
            if self._pending.count == 0:
                self._pending = _Pending(reason, 0, self.clock())
            self._pending.count += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """End the worker after the pass in progress (the caller cancels that pass if it must)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop

    @property
    def running(self) -> bool:
        return self._running

    @property
    def pending(self) -> int:
        return self._pending.count

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no pass runs and none is pending; False if that took over ``timeout``."""
        deadline = self.clock() + timeout
        with self._cond:
            while self._running or self._pending.count:
                left = deadline - self.clock()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def run_forever(self) -> None:
        """The worker loop: wait for a poke or the interval, then run one pass; until stopped."""
        last_end = self.clock()
        #: When the last pass ended (None: none yet): the next poked pass starts ``settle`` after.
        ended: float | None = None
        while True:
            with self._cond:
                while not self._stop and self._pending.count == 0:
                    remaining = last_end + self.interval - self.clock()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._stop:
                    return
                poked = self._pending.count > 0
            if poked and ended is not None:
                # Soon after a pass: let the rest of its burst arrive, they all ride on this one.
                self._sleep(ended + self.settle - self.clock())
            with self._cond:
                if self.stopped:  # while settling
                    return
                pending, self._pending = self._pending, _Pending()
                self._running = True
            reason = pending.reason if pending.count else "timer"
            started = self.clock()
            try:
                result = self.run_pass()
            except Exception:  # the pass logs its own crash; the server lives on
                log.exception("pass (%s) crashed; the next one finishes from what it observes", reason)
                result = "crashed"
            finished = self.clock()
            with self._cond:
                self._running = False
                self.history.append(
                    PassRecord(reason, pending.count, pending.first_at, started, finished, result)
                )
                del self.history[: -self.history_limit]
                self._cond.notify_all()
            last_end = ended = finished
            if result == "busy":
                self._retry_later()

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            deadline = self.clock() + seconds
            while not self._stop and (left := deadline - self.clock()) > 0:
                self._cond.wait(left)

    def _retry_later(self) -> None:
        def poke_again() -> None:
            self.poke("retry")

        timer = threading.Timer(self.busy_retry, poke_again)
        timer.daemon = True
        timer.start()
