"""Benchmark: instance-hours a week of PR activity costs with idle sleep and office hours,
against the same week always on, and the longest a visitor of a preview link waits.

Prints figures, asserts nothing. A seeded week (Monday 00:00 to Monday 00:00, Europe/Paris) for
a team of 10 with about 15 open PRs: PRs opened and closed on working days, pushes in working
hours, preview-link visits (mostly in working hours, some in the evening and at the weekend).
The week is replayed through the real planner (pullrekun.core.planner.plan) with a fake clock:
a pass every 5 minutes (serve's timer) and one at each push and visit (the webhook, the link
through serve), each plan applied as if every action succeeded. An instance counts while it
runs. A visitor who finds the environment asleep waits one wake if the pass at the visit
starts it; each later pass it is still down adds a pass interval (reported in wakes).

Pure Python, no services:  .venv/bin/python -m bench.instance_hours [--seed N] [--after 8h]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field

from pullrekun.core.model import (
    UP_STATES,
    Assign,
    Assignment,
    Deploy,
    EnvStatus,
    Instance,
    InstanceState,
    Observed,
    Plan,
    PullRequest,
    StartInstance,
    StopInstance,
    Touch,
    Unassign,
)
from pullrekun.core.planner import PlannerConfig, plan
from pullrekun.core.schedules import Schedule
from pullrekun.core.sleep import Activity, SleepPolicy

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
WEEK_START = dt.datetime(2026, 11, 30, tzinfo=PARIS).astimezone(dt.UTC)  # Monday 00:00 in Paris
TICK = dt.timedelta(minutes=5)
POOL = 18
OFFICE = Schedule("office", frozenset(range(5)), dt.time(9), dt.time(19), PARIS, "Europe/Paris")


@dataclass(order=True)
class Event:
    at: dt.datetime
    kind: str = field(compare=False)  # open, push, visit, close
    pr: int = field(compare=False)


def _work_time(rng: random.Random, day: int, evening: bool = False) -> dt.datetime:
    hour = rng.uniform(19.5, 23) if evening else rng.uniform(9.2, 18.8)
    return (WEEK_START + dt.timedelta(days=day, hours=hour)).replace(second=0, microsecond=0)


def trace(seed: int) -> tuple[list[Event], int]:
    """The week's events (sorted) and how many PRs are open at its start."""
    rng = random.Random(seed)
    events: list[Event] = []
    initial = 15
    next_pr = initial + 1
    open_prs = list(range(1, initial + 1))
    for day in range(7):
        weekday = day < 5
        if weekday:
            for _ in range(rng.randint(2, 4)):
                events.append(Event(_work_time(rng, day), "open", next_pr))
                open_prs.append(next_pr)
                next_pr += 1
            for number in rng.sample(open_prs[:-2], k=min(len(open_prs) - 2, rng.randint(2, 4))):
                events.append(Event(_work_time(rng, day), "close", number))
                open_prs.remove(number)
        for number in open_prs:
            if weekday:
                events += [Event(_work_time(rng, day), "push", number) for _ in range(rng.randint(0, 3))]
                events += [Event(_work_time(rng, day), "visit", number) for _ in range(rng.randint(0, 2))]
            if rng.random() < (0.08 if weekday else 0.03):
                events.append(Event(_work_time(rng, day, evening=True), "visit", number))
    return sorted(events), initial


@dataclass
class World:
    """The replayed world: open PRs, the pool, the state DB's records."""

    prs: dict[int, PullRequest]
    instances: dict[str, Instance]
    assignments: dict[int, Assignment] = field(default_factory=dict)
    activity: dict[int, Activity] = field(default_factory=dict)
    heads: dict[int, int] = field(default_factory=dict)

    def observed(self) -> Observed:
        return Observed(
            tuple(self.prs.values()),
            tuple(self.instances.values()),
            tuple(self.assignments.values()),
            activity=dict(self.activity),
        )

    def apply(self, p: Plan, now: dt.datetime) -> None:
        for action in p.actions:
            match action:
                case Touch(pr_number=n, head_sha=h, reason=why):
                    known = self.activity.get(n, Activity(n, now))
                    self.activity[n] = dataclasses.replace(known, active_at=now, head_sha=h)
                    if why == "given an instance":
                        self.activity[n] = dataclasses.replace(
                            self.activity[n], gave_up_at=None, asleep=False
                        )
                case Unassign(pr_number=n, set_aside=aside):
                    if aside:
                        known = self.activity.get(n, Activity(n, now))
                        self.activity[n] = dataclasses.replace(known, gave_up_at=now)
                    self.assignments.pop(n, None)
                case Assign(pr_number=n, instance_id=i):
                    self.assignments[n] = Assignment(n, i, EnvStatus.ASSIGNED, None, now)
                case StartInstance(instance_id=i):
                    self.instances[i] = dataclasses.replace(self.instances[i], state=InstanceState.RUNNING)
                case StopInstance(instance_id=i):
                    inst = self.instances[i]
                    self.instances[i] = dataclasses.replace(
                        inst, state=InstanceState.STOPPED, tag_pr=None, tag_sha=None
                    )
                case Deploy(pr_number=n, instance_id=i, sha=s):
                    self.assignments[n] = dataclasses.replace(
                        self.assignments[n], status=EnvStatus.READY, deployed_sha=s, since=now
                    )
                    inst = self.instances[i]
                    self.instances[i] = dataclasses.replace(
                        inst, state=InstanceState.RUNNING, tag_pr=n, tag_sha=s
                    )

    def serving(self, number: int) -> bool:
        asg = self.assignments.get(number)
        if asg is None or asg.status != EnvStatus.READY:
            return False
        return self.instances[asg.instance_id].state in UP_STATES

    def running(self) -> int:
        return sum(1 for i in self.instances.values() if i.state in UP_STATES)


def _sha(number: int, push: int) -> str:
    return f"{number:020x}{push:020x}"


def _pr(number: int, push: int) -> PullRequest:
    return PullRequest(
        number, _sha(number, push), WEEK_START - dt.timedelta(days=3) + dt.timedelta(hours=number)
    )


def _ticks(events: list[Event]) -> Iterator[tuple[dt.datetime, list[Event]]]:
    """Pass times: every TICK, and at each event (its own pass, as a webhook or a visit asks)."""
    now, end, i = WEEK_START, WEEK_START + dt.timedelta(days=7), 0
    while now < end:
        step = now + TICK
        while i < len(events) and events[i].at < step:
            yield events[i].at, [events[i]]
            i += 1
        now = step
        yield now, []


def replay(config: PlannerConfig, seed: int) -> tuple[float, int, int]:
    """(instance-hours, longest visitor wait in wakes, visits that found it asleep)."""
    events, initial = trace(seed)
    world = World(
        {n: _pr(n, 0) for n in range(1, initial + 1)},
        {
            f"i-{n:08x}": Instance(f"i-{n:08x}", InstanceState.STOPPED, f"127.0.0.{n + 1}")
            for n in range(1, POOL + 1)
        },
    )
    hours, last, longest, slept = 0.0, WEEK_START, 0, 0
    waiting: dict[int, dt.datetime] = {}  # PR -> when a visitor found it down
    for now, happened in _ticks(events):
        hours += world.running() * (now - last).total_seconds() / 3600
        last = now
        for ev in happened:
            if ev.kind == "open":
                world.prs[ev.pr] = _pr(ev.pr, 0)
            elif ev.kind == "close":
                world.prs.pop(ev.pr, None)
            elif ev.kind == "push" and ev.pr in world.prs:
                world.heads[ev.pr] = world.heads.get(ev.pr, 0) + 1
                world.prs[ev.pr] = _pr(ev.pr, world.heads[ev.pr])
            elif ev.kind == "visit" and ev.pr in world.prs:
                if not world.serving(ev.pr):
                    slept += 1
                    waiting.setdefault(ev.pr, now)
                known = world.activity.get(ev.pr, Activity(ev.pr, now))
                # A signed-in visit: a wake (serve records it) and activity.
                world.activity[ev.pr] = dataclasses.replace(known, active_at=now, woken_at=now, asleep=False)
        world.apply(plan(world.observed(), config, now), now)
        for number, since in list(waiting.items()):
            if number not in world.prs:
                del waiting[number]
            elif world.serving(number):
                longest = max(longest, 1 + int((now - since) / TICK))
                del waiting[number]
    return hours, longest, slept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--after", type=float, default=2.0, help="sleep.after in hours (default 2)")
    args = parser.parse_args()
    after = dt.timedelta(hours=args.after)
    setups = {
        "always on": PlannerConfig(),
        f"idle sleep ({args.after:g} h)": PlannerConfig(sleep=SleepPolicy(after=after)),
        "office hours": PlannerConfig(sleep=SleepPolicy(schedule=OFFICE)),
        f"both ({args.after:g} h, office hours)": PlannerConfig(
            sleep=SleepPolicy(after=after, schedule=OFFICE)
        ),
    }
    events, initial = trace(args.seed)
    counts = {k: sum(1 for e in events if e.kind == k) for k in ("open", "close", "push", "visit")}
    print(
        f"week of {WEEK_START.astimezone(PARIS):%Y-%m-%d} (seed {args.seed}): "
        f"{initial} PRs open at the start, {counts}"
    )
    print(f"pool of {POOL} instances, a pass every {TICK.total_seconds() / 60:g} min and at each event")
    baseline = None
    for name, config in setups.items():
        hours, longest, slept = replay(config, args.seed)
        baseline = baseline or hours
        saved = 1 - hours / baseline
        print(
            f"{name:34} {hours:8.1f} instance-hours  {hours / baseline:5.2f}x  ({saved:.0%} fewer)"
            f"  visits finding it asleep: {slept:3}  longest wait: {longest} wake(s)"
        )


if __name__ == "__main__":
    main()
