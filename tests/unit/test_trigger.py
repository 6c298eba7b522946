"""The pass trigger of `pullrekun serve`: bursts coalesce, pokes during a pass cause one more."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pullrekun.app.trigger import PassTrigger


class Passes:
    """A pass that blocks until released, so a test decides what happens while it runs."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.count = 0
        self.results = ["clean"]

    def __call__(self) -> str:
        self.count += 1
        self.started.release()
        assert self.release.wait(10), "the test never released the pass"
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


@pytest.fixture
def passes() -> Iterator[tuple[PassTrigger, Passes]]:
    fake = Passes()
    trigger = PassTrigger(fake, interval=3600, settle=0, busy_retry=0.01)
    worker = threading.Thread(target=trigger.run_forever, daemon=True)
    worker.start()
    yield trigger, fake
    trigger.stop()
    fake.release.set()
    worker.join(10)
    assert not worker.is_alive()


def idle(trigger: PassTrigger, passes: int) -> None:
    """Wait until ``passes`` passes have ended and nothing is pending."""
    done = threading.Event()
    for _ in range(1000):
        if len(trigger.history) >= passes and trigger.wait_idle(10):
            return
        done.wait(0.01)
    raise AssertionError(f"{len(trigger.history)} passes ended, wanted {passes}")


def test_pokes_during_a_pass_cause_exactly_one_follow_up(passes: tuple[PassTrigger, Passes]) -> None:
    trigger, fake = passes
    trigger.poke("webhook")
    assert fake.started.acquire(timeout=10)
    for _ in range(50):
        trigger.poke("webhook")
    fake.release.set()
    idle(trigger, 2)
    assert fake.count == 2
    assert [r.pokes for r in trigger.history] == [1, 50]
    assert [r.reason for r in trigger.history] == ["webhook", "webhook"]


def test_a_burst_before_the_pass_starts_is_one_pass() -> None:
    fake = Passes()
    fake.release.set()
    trigger = PassTrigger(fake, interval=3600, settle=0.05)
    for _ in range(50):
        trigger.poke("webhook")  # all before the worker even runs
    worker = threading.Thread(target=trigger.run_forever, daemon=True)
    worker.start()
    idle(trigger, 1)
    trigger.stop()
    worker.join(10)
    assert fake.count == 1
    assert trigger.history[0].pokes == 50


def test_a_busy_lock_is_retried(passes: tuple[PassTrigger, Passes]) -> None:
    trigger, fake = passes
    fake.results = ["busy", "clean"]
    fake.release.set()
    trigger.poke("webhook")
    idle(trigger, 2)
    assert [r.result for r in trigger.history[:2]] == ["busy", "clean"]
    assert trigger.history[1].reason == "retry"


def test_the_timer_runs_a_pass_when_nothing_pokes() -> None:
    fake = Passes()
    fake.release.set()
    trigger = PassTrigger(fake, interval=0.05, settle=0)
    worker = threading.Thread(target=trigger.run_forever, daemon=True)
    worker.start()
    idle(trigger, 1)
    trigger.stop()
    worker.join(10)
    assert trigger.history[0].reason == "timer"
    assert trigger.history[0].pokes == 0


def test_a_crashing_pass_does_not_end_the_worker(passes: tuple[PassTrigger, Passes]) -> None:
    trigger, _fake = passes
    calls = []

    def crash() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return "clean"

    trigger.run_pass = crash
    trigger.poke("webhook")
    idle(trigger, 1)
    trigger.poke("webhook")
    idle(trigger, 2)
    assert [r.result for r in trigger.history] == ["crashed", "clean"]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_poke_after_a_quiet_spell_starts_a_pass_at_once() -> None:
    """Leading edge: the first delivery after a quiet spell does not wait for a burst."""
    fake, clock = Passes(), Clock()
    fake.release.set()
    trigger = PassTrigger(fake, interval=3600, settle=30, clock=clock)
    worker = threading.Thread(target=trigger.run_forever, daemon=True)
    worker.start()
    trigger.poke("webhook")
    idle(trigger, 1)  # waiting out a 30 s settle would fail here
    clock.now += 31  # a quiet spell longer than the settle time
    trigger.poke("webhook")
    idle(trigger, 2)
    trigger.stop()
    worker.join(10)
    assert [r.started - r.poked_at for r in trigger.history if r.poked_at is not None] == [0, 0]


def test_the_follow_up_pass_starts_settle_after_the_previous_one_ended(
    passes: tuple[PassTrigger, Passes],
) -> None:
    trigger, fake = passes
    trigger.settle = 0.2
    trigger.poke("webhook")
    assert fake.started.acquire(timeout=10)
    trigger.poke("webhook")  # during the pass: rides on the follow-up, which waits for the burst
    fake.release.set()
    idle(trigger, 2)
    first, follow_up = trigger.history
    assert follow_up.started - first.finished >= 0.2
    assert follow_up.pokes == 1
