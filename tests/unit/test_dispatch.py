"""One table says what carries out each kind of action; the dispatcher follows it."""

from __future__ import annotations

import re
from pathlib import Path

from pullrekun.app.dispatch import (
    CARRIED_OUT_BY,
    ORDER,
    WHERE,
    Carrier,
    Done,
    action_types,
    carries,
    dispatch,
    table,
)
from pullrekun.core.model import (
    Action,
    Assign,
    Deploy,
    Plan,
    RegisterInstance,
    RevokeApproval,
    StartInstance,
    StopInstance,
    Unassign,
)

ROOT = Path(__file__).resolve().parents[2]
SHA = "a" * 40


def test_every_kind_of_action_has_one_carrier() -> None:
    assert set(CARRIED_OUT_BY) == set(action_types())
    assert set(WHERE) == set(Carrier)
    for where in WHERE.values():
        assert (ROOT / where).is_file(), where


def test_each_executor_gets_its_actions_once_in_the_fixed_order() -> None:
    plan = Plan(
        actions=(
            Unassign(2, "i-0000000b", "closed"),
            Assign(1, "i-0000000b"),
            StartInstance("i-0000000b"),
            Deploy(1, "i-0000000b", SHA, "new"),
            RegisterInstance("i-0000000c", "alice"),
            RevokeApproval(3, "preview:approved"),
            StopInstance("i-0000000d", "closed"),
        )
    )
    calls: list[tuple[Carrier, tuple[Action, ...]]] = []

    def executor(carrier: Carrier):  # type: ignore[no-untyped-def]
        def run(actions: tuple[Action, ...], whole: Plan, _before: Done) -> Done:
            assert whole is plan
            calls.append((carrier, actions))
            return Done()

        return run

    dispatch(plan, {c: executor(c) for c in ORDER})
    assert [c for c, _ in calls] == [Carrier.EC2, Carrier.GITHUB, Carrier.PLAYBOOK]
    assert calls[0][1] == (RegisterInstance("i-0000000c", "alice"),)
    assert calls[1][1] == (RevokeApproval(3, "preview:approved"),)
    assert calls[2][1] == (
        StartInstance("i-0000000b"),
        Deploy(1, "i-0000000b", SHA, "new"),
        StopInstance("i-0000000d", "closed"),
    )


def test_a_plan_of_records_calls_no_executor_and_starts_no_run() -> None:
    plan = Plan(actions=(Assign(1, "i-0000000a"), Unassign(2, "i-0000000b", "closed")))
    assert not carries(plan, Carrier.PLAYBOOK)
    assert carries(Plan(actions=(StartInstance("i-0000000a"),)), Carrier.PLAYBOOK)
    assert dispatch(plan, {}) == Done(), "no executor is asked for"


def test_the_readme_action_table_is_the_dispatch_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^ *\| `(\w+)` \| (\w+) \| `([^`]+)` \|$", readme, flags=re.M)
    assert tuple((name, Carrier(carrier), where) for name, carrier, where in rows) == table()
