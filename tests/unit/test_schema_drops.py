"""A recorded schema drop is said by `status`, counted by /metrics, and forgotten once done."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prometheus_client import generate_latest

from pullrekun.adapters.state.store import Store
from pullrekun.app.counts import counts
from pullrekun.app.readmodel import GitHubFacts, SchemaDropView, Snapshot
from pullrekun.cli.render import status_table
from pullrekun.core.model import DropSchema, ForgetSchemaDrop, Plan
from pullrekun.web.metrics import Metrics

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


class _Trigger:
    def __init__(self) -> None:
        self.history: list[object] = []
        self.pending = 0


def test_a_drop_is_recorded_with_the_intent_and_forgotten_when_done_or_moot(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        plan = Plan(actions=(DropSchema("i-0000000a", "stage_a"), DropSchema("i-0000000b", "stage_b")))
        store.journal.record_intent(plan, NOW, None)
        assert store.journal.schema_drops() == {"i-0000000a": "stage_a", "i-0000000b": "stage_b"}
        assert counts(store).schema_drops == 2
        scraped = generate_latest(Metrics(_Trigger(), store).registry).decode()  # type: ignore[arg-type]
        assert "pullrekun_schema_drops_pending 2.0" in scraped
        store.journal.schema_dropped({"i-0000000a": "stage_a"}, NOW)
        moot = Plan(actions=(ForgetSchemaDrop("i-0000000b", "instance given to PR #5"),))
        store.journal.record_intent(moot, NOW, None)
        assert store.journal.schema_drops() == {}
        kinds = [(e.kind, e.instance_id) for e in store.events.recent()]
        assert ("schema_dropped", "i-0000000a") in kinds
        assert ("schema_drop_forgotten", "i-0000000b") in kinds
    finally:
        store.close()


def test_status_says_which_schema_waits_to_be_dropped() -> None:
    snap = Snapshot(
        pool="default",
        environments=(),
        instances=(),
        queue=(),
        github=GitHubFacts(),
        schema_drops=(SchemaDropView("i-0000000a", "stage_a", NOW),),
    )
    assert (
        "schema stage_a of i-0000000a waits to be dropped (since 2026-12-04T12:00:00+00:00)"
        in status_table(snap)
    )
    assert snap.to_json()["schema_drops"] == [
        {"instance_id": "i-0000000a", "schema": "stage_a", "since": "2026-12-04T12:00:00+00:00"}
    ]
