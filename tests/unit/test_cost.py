"""Running hours from observed stretches, and what they cost."""

from __future__ import annotations

import datetime as dt

from pullrekun.core.cost import Prices, Stretch, cost, month_start, per_pr, usage_change
from pullrekun.core.model import Instance, InstanceState

T0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def inst(state: InstanceState, launched: dt.datetime | None = None) -> Instance:
    return Instance("i-00000001", state, "127.0.0.2", launched_at=launched, instance_type="t3.small")


def test_a_stretch_opens_at_ec2s_launch_time_and_closes_when_seen_stopped() -> None:
    first = usage_change({}, [inst(InstanceState.RUNNING, T0)], {"i-00000001": 3}, T0 + HOUR)
    assert first.open == (Stretch("i-00000001", 3, "t3.small", T0),), "EC2's start, not the pass's"
    running = {"i-00000001": first.open[0]}
    assert usage_change(running, [inst(InstanceState.RUNNING, T0)], {"i-00000001": 3}, T0 + 2 * HOUR).empty
    stopped = usage_change(running, [inst(InstanceState.STOPPED)], {"i-00000001": 3}, T0 + 3 * HOUR)
    assert stopped.close == {"i-00000001": T0 + 3 * HOUR}
    assert stopped.open == ()
    gone = usage_change(running, [], {}, T0 + 3 * HOUR)
    assert gone.close == {"i-00000001": T0 + 3 * HOUR}, "left the pool: closed too"


def test_a_new_holder_closes_the_stretch_and_opens_the_next() -> None:
    running = {"i-00000001": Stretch("i-00000001", 3, "t3.small", T0)}
    change = usage_change(running, [inst(InstanceState.RUNNING, T0)], {"i-00000001": 4}, T0 + HOUR)
    assert change.close == {"i-00000001": T0 + HOUR}
    assert change.open == (Stretch("i-00000001", 4, "t3.small", T0 + HOUR),)


def test_hours_and_money_per_pr_and_this_months_share() -> None:
    prices = Prices({"t3.small": 0.0416})
    stretches = [
        Stretch("i-00000001", 3, "t3.small", T0 - 2 * HOUR - dt.timedelta(days=1), T0 - dt.timedelta(days=1)),
        Stretch("i-00000001", 3, "t3.small", T0, T0 + 4.5 * HOUR),
        Stretch("i-00000002", None, "t3.small", T0, None),
    ]
    costs = per_pr(stretches, prices, T0 + 6 * HOUR)
    assert costs[3].text(prices) == "ran 6.5 h, about $0.27"
    assert set(costs) == {3}, "a free instance's hours belong to no PR"
    since = month_start(T0 + 6 * HOUR)
    assert since == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert round(cost(stretches, prices, T0 + 6 * HOUR, since), 4) == round(10.5 * 0.0416, 4)
    assert Prices({}, default=0.5).per_hour("x9.huge") == 0.5


def test_the_price_shown_does_not_flip_with_the_seconds_since_the_stretch_began() -> None:
    """6.5 h at 0.05 an hour is 0.325: shown as $0.33 whatever fraction of a second the pass
    adds (the float quotient is 0.32499999999999996 for some), rounded half up like money."""
    prices = Prices({"t3.micro": 0.05})
    stretch_starts = [T0 - dt.timedelta(hours=6.5, microseconds=us) for us in range(0, 5_000_000, 7919)]
    shown = {
        per_pr([Stretch("i-00000001", 7, "t3.micro", start)], prices, T0)[7].text(prices)
        for start in stretch_starts
    }
    assert shown == {"ran 6.5 h, about $0.33"}
    assert (prices.money(0.125), prices.money(1234.5), prices.money(0.0)) == ("$0.13", "$1,234.50", "$0.00")
