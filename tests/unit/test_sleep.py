"""Idle sleep, office hours, pins, hand-overs and the budget: the planner's decisions with a
fake clock (tables, then properties)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pullrekun.core.fleet import FleetPolicy, LaunchInstance
from pullrekun.core.model import (
    UP_STATES,
    Assign,
    Assignment,
    Deploy,
    EnvStatus,
    Instance,
    InstanceState,
    Observed,
    PullRequest,
    StartInstance,
    StopInstance,
    Touch,
    Unassign,
    UntagInstance,
)
from pullrekun.core.planner import PlannerConfig, plan
from pullrekun.core.schedules import Schedule
from pullrekun.core.sleep import Activity, RestKind, SleepPolicy, rest_for

S = InstanceState
NY = zoneinfo.ZoneInfo("America/New_York")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
WEEKDAYS = frozenset(range(5))
OFFICE_NY = Schedule("office", WEEKDAYS, dt.time(9), dt.time(17), NY, "America/New_York")
OFFICE_TOKYO = Schedule("office", WEEKDAYS, dt.time(9), dt.time(19), TOKYO, "Asia/Tokyo")
# Wednesday 2026-12-02, 12:00 in Tokyo (03:00 UTC): office hours.
WED_NOON_TOKYO = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)
EIGHT_H = dt.timedelta(hours=8)
IDLE_TEXT = "idle for 8 h; a push or a visit of its link wakes it"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def sha(n: int) -> str:
    return f"{n:040x}"


def pr(number: int, labels: tuple[str, ...] = (), head: int | None = None) -> PullRequest:
    created = utc(2026, 11, 1) + dt.timedelta(hours=number)
    return PullRequest(number, sha(head or number), created, labels=labels)


def inst(n: int, state: S = S.RUNNING, serving: int | None = None) -> Instance:
    tags = (serving, sha(serving)) if serving is not None and state in UP_STATES else (None, None)
    return Instance(f"i-{n:08x}", state, f"127.0.0.{n + 1}", tag_pr=tags[0], tag_sha=tags[1])


def ready(number: int, n: int) -> Assignment:
    return Assignment(number, f"i-{n:08x}", EnvStatus.READY, sha(number), utc(2026, 11, 1))


def active(number: int, at: dt.datetime, **kw: object) -> Activity:
    return dataclasses.replace(Activity(number, at, sha(number)), **kw)  # type: ignore[arg-type]


def config(
    after: dt.timedelta | None = EIGHT_H, schedule: Schedule | None = None, **kw: object
) -> PlannerConfig:
    return PlannerConfig(sleep=SleepPolicy(after=after, schedule=schedule), **kw)  # type: ignore[arg-type]


# --- office hours -----------------------------------------------------------------------


def test_office_hours_keep_local_time_on_both_daylight_saving_changes() -> None:
    # 2026-03-08: New York springs forward (UTC-5 -> UTC-4); 2026-11-01: it falls back.
    assert OFFICE_NY.next_change(utc(2026, 3, 6, 23)) == utc(2026, 3, 9, 13), "09:00 EDT"
    assert OFFICE_NY.next_change(utc(2026, 3, 6, 12)) == utc(2026, 3, 6, 14), "09:00 EST"
    assert OFFICE_NY.next_change(utc(2026, 10, 30, 23)) == utc(2026, 11, 2, 14), "09:00 EST again"
    assert OFFICE_NY.is_open(utc(2026, 3, 9, 13, 30))
    assert not OFFICE_NY.is_open(utc(2026, 11, 2, 13, 30)), "08:30 EST: not open yet"
    assert OFFICE_NY.local_text(utc(2026, 3, 9, 13)) == "Mon 09:00 America/New_York"


def test_a_window_across_the_changed_hour_is_shorter_or_longer_in_utc() -> None:
    nights = Schedule("night", frozenset({6}), dt.time(1), dt.time(4), NY, "America/New_York")
    (spring,) = nights.windows(dt.date(2026, 3, 8), dt.date(2026, 3, 8))
    (autumn,) = nights.windows(dt.date(2026, 11, 1), dt.date(2026, 11, 1))
    assert spring[1] - spring[0] == dt.timedelta(hours=2)
    assert autumn[1] - autumn[0] == dt.timedelta(hours=4)


def test_holidays_and_windows_past_midnight() -> None:
    office = dataclasses.replace(OFFICE_TOKYO, holidays=frozenset({dt.date(2026, 12, 2)}))
    assert not office.is_open(WED_NOON_TOKYO), "a holiday is closed all day"
    assert office.local_text(office.next_change(WED_NOON_TOKYO) or WED_NOON_TOKYO) == "Thu 09:00 Asia/Tokyo"
    late = Schedule("late", frozenset({4}), dt.time(22), dt.time(2), dt.UTC, "UTC")
    assert late.is_open(utc(2026, 12, 5, 1)), "Friday 22:00 to Saturday 02:00"
    assert not late.is_open(utc(2026, 12, 5, 3))
    assert late.describe() == "Fri 22:00-02:00 UTC"
    assert OFFICE_TOKYO.describe() == "Mon-Fri 09:00-19:00 Asia/Tokyo"


# --- the rules --------------------------------------------------------------------------


def test_the_rules_in_order() -> None:
    now = WED_NOON_TOKYO
    idle, fresh = active(3, now - EIGHT_H), active(3, now - dt.timedelta(hours=1))
    policy = SleepPolicy(after=EIGHT_H)
    assert rest_for(3, (), False, fresh, policy, now) is None
    rest = rest_for(3, (), False, idle, policy, now)
    assert rest is not None
    assert (rest.kind, rest.since) == (RestKind.IDLE, now)
    assert rest.text.startswith("idle for 8 h")
    assert rest_for(3, ("preview:keep",), False, idle, policy, now) is None, "the keep label"
    pinned = dataclasses.replace(idle, pinned_by="local:ann", pinned_until=now + dt.timedelta(hours=1))
    assert rest_for(3, (), False, pinned, policy, now) is None, "pinned"
    expired = dataclasses.replace(pinned, pinned_until=now)
    assert rest_for(3, (), False, expired, policy, now) is not None, "a pin runs out"
    forever = dataclasses.replace(idle, pinned_by="local:ann")
    assert rest_for(3, (), False, forever, policy, now) is None, "pinned until removed"
    requested = rest_for(3, ("preview:keep",), True, fresh, policy, now)
    assert requested is not None
    assert requested.kind == RestKind.REQUESTED, "a stop on request beats the label"
    assert rest_for(3, (), False, idle, SleepPolicy(), now) is None, "no [sleep] after: never idle"


def test_outside_office_hours_it_sleeps_until_they_open_unless_woken() -> None:
    friday_night = utc(2026, 12, 4, 12)  # 21:00 in Tokyo
    policy = SleepPolicy(schedule=OFFICE_TOKYO)
    act = active(3, friday_night)
    rest = rest_for(3, (), False, act, policy, friday_night)
    assert rest is not None
    assert rest.kind == RestKind.OFF_HOURS
    assert rest.text == "sleeping until Mon 09:00 Asia/Tokyo"
    assert rest.until == utc(2026, 12, 7, 0)
    woken = dataclasses.replace(act, woken_at=friday_night - dt.timedelta(minutes=30))
    assert rest_for(3, (), False, woken, policy, friday_night) is None, "a visit keeps it up for an hour"
    assert rest_for(3, (), False, woken, policy, friday_night + dt.timedelta(minutes=31)) is not None


# --- the planner ------------------------------------------------------------------------


def test_idle_environment_sleeps_and_a_push_wakes_it() -> None:
    now = WED_NOON_TOKYO
    world = Observed((pr(3),), (inst(1, serving=3),), (ready(3, 1),), activity={3: active(3, now - EIGHT_H)})
    p = plan(world, config(), now)
    assert p.actions == (
        StopInstance("i-00000001", "PR #3 asleep: idle for 8 h", wipe=False),
        UntagInstance("i-00000001"),
    )
    (rest,) = p.resting
    assert (rest.pr_number, rest.kind, rest.without_instance) == (3, RestKind.IDLE, False)
    stopped = dataclasses.replace(world, instances=(inst(1, S.STOPPED),))
    assert plan(stopped, config(), now).empty, "asleep: nothing more to do"
    pushed = dataclasses.replace(stopped, prs=(pr(3, head=33),))
    woken = plan(pushed, config(), now)
    assert woken.of_type(Touch) == (Touch(3, sha(33), "pushed"),)
    assert woken.of_type(StartInstance) == (StartInstance("i-00000001"),)
    assert [d.sha for d in woken.of_type(Deploy)] == [sha(33)]
    assert woken.resting == ()


def test_a_wake_starts_it_again() -> None:
    now = WED_NOON_TOKYO
    act = active(3, now - EIGHT_H, woken_at=now, active_at=now)
    world = Observed((pr(3),), (inst(1, S.STOPPED),), (ready(3, 1),), activity={3: act})
    p = plan(world, config(), now)
    assert p.of_type(StartInstance) == (StartInstance("i-00000001"),)
    assert [(d.pr_number, d.reason) for d in p.of_type(Deploy)] == [(3, "instance was stopped")]


def test_a_sleeper_hands_its_instance_to_the_oldest_waiting_pr_and_queues_once_woken() -> None:
    now = WED_NOON_TOKYO
    acts = {
        3: active(3, now - 2 * EIGHT_H),
        4: active(4, now - EIGHT_H),
        5: active(5, now),
    }
    world = Observed(
        (pr(3), pr(4), pr(5)),
        (inst(1, S.STOPPED), inst(2, S.STOPPED)),
        (ready(3, 1), ready(4, 2)),
        activity=acts,
    )
    p = plan(world, config(), now)
    handed = "asleep: its instance went to a waiting PR; it queues again once woken"
    assert p.of_type(Unassign) == (Unassign(3, "i-00000001", handed, set_aside=True),), "longest asleep first"
    assert p.of_type(Assign) == (Assign(5, "i-00000001"),)
    assert p.queue == ()
    assert [(r.pr_number, r.without_instance) for r in p.resting] == [(3, True), (4, False)]
    # Next pass: PR 3 has no instance and stays out of the queue while asleep; PR 6 opens.
    later = Observed(
        (pr(3), pr(4), pr(5), pr(6)),
        (inst(1, serving=5), inst(2, S.STOPPED)),
        (ready(5, 1), ready(4, 2)),
        activity={**acts, 3: dataclasses.replace(acts[3], gave_up_at=now), 6: active(6, now)},
    )
    q = plan(later, config(), now)
    assert 3 not in [x.pr_number for x in q.queue]
    assert q.of_type(Assign) == (Assign(6, "i-00000002"),), "PR 4 hands over next"
    pushed = dataclasses.replace(later, prs=(pr(3, head=33), pr(4), pr(5), pr(6)))
    woken = plan(pushed, config(), now)
    assert woken.of_type(Assign) == (Assign(3, "i-00000002"),), "awake, it queues first (the oldest PR)"
    assert [x.pr_number for x in woken.queue] == [6]


def test_outside_office_hours_nothing_is_given_out_or_launched() -> None:
    sunday = utc(2026, 12, 6, 3)  # Sunday noon in Tokyo
    fleet = FleetPolicy(launches=True, pool="default", max_size=3)
    cfg = config(after=None, schedule=OFFICE_TOKYO, fleet=fleet)
    world = Observed((pr(3), pr(4, labels=("preview:keep",))), (), ())
    p = plan(world, cfg, sunday)
    assert [(q.pr_number, q.held) for q in p.queue] == [
        (3, "outside office hours; sleeping until Mon 09:00 Asia/Tokyo"),
        (4, ""),
    ], "a labelled PR is not held back (it waits for a launch)"
    assert p.of_type(LaunchInstance) == (), "nothing launched"
    monday = utc(2026, 12, 7, 0, 5)
    assert [launch.for_prs for launch in plan(world, cfg, monday).of_type(LaunchInstance)] == [(3,), (4,)]


def test_outside_office_hours_a_labelled_pr_gets_a_free_instance() -> None:
    sunday = utc(2026, 12, 6, 3)
    cfg = config(after=None, schedule=OFFICE_TOKYO)
    world = Observed((pr(3), pr(4, labels=("preview:keep",))), (inst(1, S.STOPPED),), ())
    p = plan(world, cfg, sunday)
    assert p.of_type(Assign) == (Assign(4, "i-00000001"),)
    assert [(q.pr_number, bool(q.held)) for q in p.queue] == [(3, True)]


def test_over_budget_nothing_is_started_or_launched() -> None:
    now = WED_NOON_TOKYO
    fleet = FleetPolicy(launches=True, pool="default", max_size=3)
    cfg = config(budget=50.0, fleet=fleet)
    acts = {3: active(3, now, woken_at=now)}
    world = Observed((pr(3), pr(4)), (inst(1, S.STOPPED),), (ready(3, 1),), activity=acts, month_cost=50.0)
    p = plan(world, cfg, now)
    assert not p.of_type(StartInstance)
    assert not p.of_type(LaunchInstance)
    (rest,) = p.resting
    assert rest.kind == RestKind.BUDGET
    assert "monthly budget ($50.00) is spent" in rest.text
    assert [q.held for q in p.queue] == [rest.text.removeprefix("not woken: ")]
    lifted = plan(dataclasses.replace(world, budget_lifted=True), cfg, now)
    assert lifted.of_type(StartInstance) == (StartInstance("i-00000001"),), "an admin lifted it"
    running = dataclasses.replace(world, instances=(inst(1, serving=3),))
    assert plan(running, cfg, now).resting == (), "a running environment is not stopped for the budget"


# --- properties -------------------------------------------------------------------------

MONDAY = utc(2026, 11, 30, 0)  # Monday 09:00 in Tokyo


@st.composite
def sleep_worlds(draw: st.DrawFn) -> tuple[Observed, dt.datetime, PlannerConfig]:
    now = MONDAY + dt.timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    numbers = draw(st.lists(st.integers(1, 12), unique=True, min_size=1, max_size=7))
    labels = st.sampled_from([(), (), ("preview:keep",)])
    prs = tuple(pr(n, draw(labels)) for n in numbers)
    n_inst = draw(st.integers(0, 5))
    held = numbers[:n_inst]
    states = st.sampled_from([S.RUNNING, S.STOPPED])
    insts = tuple(inst(i + 1, draw(states), held[i] if i < len(held) else None) for i in range(n_inst))
    asgs = tuple(ready(n, i + 1) for i, n in enumerate(held))
    ago = st.integers(0, 30 * 60).map(lambda m: now - dt.timedelta(minutes=m))
    acts = {
        n: active(
            n,
            draw(ago),
            woken_at=draw(st.none() | ago),
            pinned_by=draw(st.sampled_from([None, "local:ann"])),
            pinned_until=draw(st.none() | ago.map(lambda t: t + dt.timedelta(hours=6))),
        )
        for n in numbers
    }
    cfg = config(after=EIGHT_H, schedule=OFFICE_TOKYO)
    return Observed(prs, insts, asgs, activity=acts), now, cfg


@settings(max_examples=300, deadline=None)
@given(sleep_worlds())
def test_asleep_only_by_a_rule(world: tuple[Observed, dt.datetime, PlannerConfig]) -> None:
    observed, now, cfg = world
    p = plan(observed, cfg, now)
    resting = {r.pr_number: r for r in p.resting}
    open_now = OFFICE_TOKYO.is_open(now)
    held = {a.pr_number for a in observed.assignments}
    for x in observed.prs:
        if x.number not in held:
            continue
        act = observed.activity[x.number]
        exempt = "preview:keep" in x.labels or act.pinned(now)
        idle = now - act.active_at >= EIGHT_H
        woken = act.woken_at is not None and now - act.woken_at < EIGHT_H
        rest = resting.get(x.number)
        if exempt or woken:
            assert rest is None, "pinned, labelled or woken: awake"
        elif open_now:
            assert (rest is not None) == idle, "in office hours: asleep exactly when idle"
        else:
            assert rest is not None, "outside office hours: asleep unless pinned or woken"
            assert rest.kind == RestKind.OFF_HOURS


@settings(max_examples=300, deadline=None)
@given(sleep_worlds())
def test_a_sleeper_never_holds_an_instance_while_a_pr_waits(
    world: tuple[Observed, dt.datetime, PlannerConfig],
) -> None:
    observed, now, cfg = world
    p = plan(observed, cfg, now)
    waiting = [q for q in p.queue if not q.held]
    sleepers_holding = [r for r in p.resting if not r.without_instance]
    assert not (waiting and sleepers_holding)


def test_hand_over_off_and_instances_recycling_replaces_stay_with_their_sleeper() -> None:
    from pullrekun.core.fleet import LaunchRecord, Recycle

    now = WED_NOON_TOKYO
    acts = {3: active(3, now - 2 * EIGHT_H), 5: active(5, now)}
    world = Observed((pr(3), pr(5)), (inst(1, S.STOPPED),), (ready(3, 1),), activity=acts)
    off = PlannerConfig(sleep=SleepPolicy(after=EIGHT_H, hand_over=False))
    assert plan(world, off, now).of_type(Unassign) == (), "hand_over = false"
    record = LaunchRecord("prk-" + "0" * 32, now - EIGHT_H, "for PR #3", "i-00000001", bootstrapped=True)
    fleet = FleetPolicy(launches=True, pool="default", max_size=1, recycle=Recycle.UNTRUSTED)
    launched = dataclasses.replace(world, launches=(record,), untrusted=frozenset({"i-00000001"}))
    p = plan(launched, config(fleet=fleet), now)
    assert p.of_type(Unassign) == (), "an instance that ran untrusted code is never handed on"
    assert [q.pr_number for q in p.queue] == [5]


def test_a_push_outside_office_hours_is_deployed_when_they_open() -> None:
    friday_night = utc(2026, 12, 4, 12)
    cfg = config(after=None, schedule=OFFICE_TOKYO)
    world = Observed(
        (pr(3, head=33),), (inst(1, S.STOPPED),), (ready(3, 1),), activity={3: active(3, friday_night)}
    )
    p = plan(world, cfg, friday_night)
    assert not p.of_type(Deploy), "pushed at night: it sleeps on"
    assert [t.reason for t in p.of_type(Touch)] == ["pushed"]
    monday = utc(2026, 12, 7, 0, 1)
    pushed = dataclasses.replace(world, activity={3: active(3, friday_night, head_sha=sha(33))})
    assert [d.sha for d in plan(pushed, cfg, monday).of_type(Deploy)] == [sha(33)]


def test_pullrekun_plan_says_who_sleeps_and_who_is_held_back() -> None:
    from pullrekun.cli.render import plan_text

    now = WED_NOON_TOKYO
    world = Observed(
        (pr(3), pr(4)), (inst(1, serving=3),), (ready(3, 1),), activity={3: active(3, now - EIGHT_H)}
    )
    lines = plan_text(plan(world, config(), now)).splitlines()
    handed = f"asleep: PR #3: {IDLE_TEXT} (its instance went to a waiting PR)"
    assert handed in lines
    sunday = utc(2026, 12, 6, 3)
    held = plan_text(plan(Observed((pr(5),), (), ()), config(after=None, schedule=OFFICE_TOKYO), sunday))
    assert (
        "queued: PR #5 position 1 (held: outside office hours; sleeping until Mon 09:00 Asia/Tokyo)" in held
    )
