"""pullrekun's launch records: written with the intent, failures said once, ends kept as history,
counted by /metrics and shown by `status`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from pullrekun.adapters.state.store import Store
from pullrekun.app.counts import counts
from pullrekun.app.fleetview import FleetView, LaunchView
from pullrekun.app.readmodel import GitHubFacts, InstanceView, Snapshot
from pullrekun.cli.render import status_table
from pullrekun.core.fleet import AdoptLaunch, FleetPolicy, LaunchInstance
from pullrekun.core.model import Assign, Plan, Unassign
from pullrekun.web.metrics import Metrics
from tests.unit.test_schema_drops import _Trigger

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
A, B = f"prk-{1:032x}", f"prk-{2:032x}"


def test_launches_are_recorded_adopted_failed_once_and_ended(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.fleet.record_launches(
            Plan(actions=(LaunchInstance(A, "PR #3 waits", (3,)), LaunchInstance(B, "min"))), NOW
        )
        assert [(r.token, r.pending) for r in store.fleet.records()] == [(A, True), (B, True)]
        retry = FleetPolicy(launches=True).retry_at
        assert store.fleet.launch_failed(B, "EC2 refused the launch: capacity", NOW, retry) is True
        assert store.fleet.launch_failed(B, "EC2 refused the launch: capacity", NOW, retry) is False
        # A retry is the same launch again: its attempts grow, its token stays.
        store.fleet.record_launches(Plan(actions=(LaunchInstance(B, "min", retry=True),)), NOW)
        failed = next(r for r in store.fleet.records() if r.token == B)
        assert (failed.attempts, failed.failure, failed.retry_at) == (
            2,
            "EC2 refused the launch: capacity",
            NOW + dt.timedelta(minutes=1),
        )
        c = counts(store)
        assert (c.launches_in_flight, c.launches_failed, c.managed) == (1, 1, 0)
        scraped = generate_latest(Metrics(_Trigger(), store).registry).decode()  # type: ignore[arg-type]
        assert 'pullrekun_launches{state="failed"} 1.0' in scraped
        assert 'pullrekun_launches{state="in_flight"} 1.0' in scraped

        # Adopted with the intent; served and released (its idle clock); terminated.
        store.journal.record_intent(Plan(actions=(AdoptLaunch(A, "i-0000000a"),)), NOW, None)
        store.journal.record_intent(Plan(actions=(Assign(3, "i-0000000a"),)), NOW, None)
        (live,) = [r for r in store.fleet.records() if r.token == A]
        assert (live.instance_id, live.served, live.idle_since) == ("i-0000000a", True, None)
        later = NOW + dt.timedelta(hours=1)
        store.journal.record_intent(
            Plan(actions=(Unassign(3, "i-0000000a", "pull request closed"),)), later, None
        )
        assert next(r for r in store.fleet.records() if r.token == A).idle_since == later
        scraped = generate_latest(Metrics(_Trigger(), store).registry).decode()  # type: ignore[arg-type]
        assert "pullrekun_instances_managed 1.0" in scraped
        store.fleet.terminated({"i-0000000a": "scale-in: free for 1.0 h"}, later)
        assert [r.token for r in store.fleet.records()] == [B]
        (ended,) = [h for h in store.fleet.history() if h.token == A]
        assert (ended.terminated_at, ended.end_reason) == (later, "scale-in: free for 1.0 h")
        kinds = [e.kind for e in store.events.recent()]
        assert kinds.count("launch_failed") == 1
        assert {"launch_requested", "launched", "terminated"} <= set(kinds)
    finally:
        store.close()


def test_status_says_what_the_fleet_does() -> None:
    failed = LaunchView(
        A, "PR #3 waits for an instance", NOW, "failed", failure="EC2 refused the launch: x", retry_at=NOW
    )
    flying = LaunchView(B, "pool below ec2.min_size (1)", NOW, "in flight")
    snap = Snapshot(
        pool="default",
        environments=(),
        instances=(
            InstanceView("i-0000000a", "stopped", None, managed=True, launched_at=NOW, launch_reason="r"),
        ),
        queue=(),
        github=GitHubFacts(),
        fleet=FleetView("staging", 1, 4, (failed, flying)),
    )
    text = status_table(snap)
    assert "fleet: 1 launched, 1 in flight, 1 failed (template staging, min 1, max 4)" in text
    assert "launch failed (PR #3 waits for an instance): EC2 refused the launch: x; tried again at" in text
    assert "launch in flight since" in text


def test_plan_and_pass_text_say_what_launches_do() -> None:
    from pullrekun.adapters.playbook.launch import LaunchOutcome
    from pullrekun.app.results import PassOutcome, PassResult
    from pullrekun.cli.render import pass_text, plan_text
    from pullrekun.core.model import QueuedPR

    planned = Plan(
        actions=(LaunchInstance(A, "PR #3 waits for an instance", (3,)),),
        queue=(
            QueuedPR(3, 1, launching=True),
            QueuedPR(4, 2, launch_failure="launching an instance failed: quota; tried again at 12:01 UTC"),
            QueuedPR(5, 3),
        ),
    )
    text = plan_text(planned).splitlines()
    assert text[0] == (
        f"LaunchInstance: token={A}, reason=PR #3 waits for an instance, for_prs=(3,), retry=False, "
        "request_id=None, actor=None"
    )
    assert text[1:] == [
        "queued: PR #3 position 1 (an instance is being launched for it)",
        "queued: PR #4 position 2 (launching an instance failed: quota; tried again at 12:01 UTC)",
        "queued: PR #5 position 3",
    ]
    result = PassResult(
        PassOutcome.CLEAN,
        planned,
        launches=(LaunchOutcome(A, True), LaunchOutcome(B, False, "EC2 refused the launch: x")),
    )
    assert pass_text(result).splitlines()[1:] == [
        "  launched 1 of 2 instance(s) first",
        f"  launch {B} failed: EC2 refused the launch: x",
    ]


def test_metrics_count_what_the_sweep_did_in_the_last_day(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        now = dt.datetime.now(dt.UTC)
        store.events.add(now - dt.timedelta(days=2), "swept", "stopped: old", instance_id="i-0000000a")
        store.events.add(
            now - dt.timedelta(hours=1), "swept", "stopped: running for nobody", instance_id="i-0000000b"
        )
        store.events.add(now, "terminated", "scale-in: free for 1.0 h", instance_id="i-0000000c")
        store.events.add(now, "deploy_failed", "not a sweep", instance_id="i-0000000d")
        assert counts(store, now).swept_last_day == 2
        scraped = generate_latest(Metrics(_Trigger(), store).registry).decode()  # type: ignore[arg-type]
        assert "pullrekun_swept_last_day 2.0" in scraped
    finally:
        store.close()


def test_ended_launches_are_kept_as_history_up_to_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pullrekun.adapters.state.fleet as fleet_store

    monkeypatch.setattr(fleet_store, "KEEP_ENDED", 2)  # the bound, small enough to reach
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        tokens = [f"prk-{n:032x}" for n in range(1, 5)]
        for n, token in enumerate(tokens, start=1):
            at = NOW + dt.timedelta(minutes=n)
            store.fleet.record_launches(Plan(actions=(LaunchInstance(token, "r"),)), at)
            store.journal.record_intent(Plan(actions=(AdoptLaunch(token, f"i-{n:08x}"),)), at, None)
            store.fleet.terminated({f"i-{n:08x}": "scale-in"}, at)
        assert [h.token for h in store.fleet.history()] == tokens[2:][::-1]
    finally:
        store.close()
