"""When an environment sleeps: idle too long, outside office hours, stopped on request, or
its instance handed to a waiting PR. Pure: the planner's ``now`` drives every rule.

A sleeping environment's instance is stopped (it keeps it, and its schema) until something
wakes it: a push, a visit of its preview link, *Wake* on the dashboard, ``pullrekun wake``.
A *Keep awake* pin (the dashboard, the CLI, the API, or the keep label) exempts one environment
from idle sleep and office hours, for a stated time or until removed.

What each rule reads is recorded per PR (:class:`Activity`): when it was last active (pushed,
visited, acted on, given an instance), when someone last woke it, its pin, and whether it gave
its instance up while asleep.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from pullrekun.core.schedules import Schedule

#: How long an explicit wake keeps an environment up outside office hours when ``sleep.after``
#: is not set (with it: that long).
DEFAULT_WAKE_WINDOW = dt.timedelta(hours=1)
#: The longest *Keep awake* pin with a time (hours); longer: pin it until removed.
MAX_PIN_HOURS = 24 * 31
#: What an environment stopped on request says.
REQUESTED_TEXT = "stopped on request; wake it from the dashboard"


class RestKind(enum.StrEnum):
    """Why an environment sleeps (the order is the precedence)."""

    REQUESTED = "requested"  # stopped on request until woken
    OFF_HOURS = "off_hours"  # outside the pool's office hours
    IDLE = "idle"  # no push, visit or action for sleep.after
    BUDGET = "budget"  # asleep, and the monthly budget allows no start


@dataclass(frozen=True)
class Activity:
    """What the sleep rules know of one PR, as recorded in the state DB."""

    pr_number: int
    #: The last push seen, visit of its preview link, action on it, or instance given to it.
    active_at: dt.datetime
    #: The head commit last seen (a different head is a push: activity).
    head_sha: str = ""
    #: The last explicit wake (a visit of the link, the dashboard's *Wake*, ``pullrekun wake``).
    woken_at: dt.datetime | None = None
    #: A *Keep awake* pin: who set it, and until when (None: until removed).
    pinned_by: str | None = None
    pinned_until: dt.datetime | None = None
    #: It let its instance go to a waiting PR while asleep: it queues again only once awake.
    gave_up_at: dt.datetime | None = None
    #: It was stopped on request when it let its instance go: asleep until woken.
    asleep: bool = False

    def pinned(self, now: dt.datetime) -> bool:
        return self.pinned_by is not None and (self.pinned_until is None or now < self.pinned_until)


@dataclass(frozen=True)
class Rest:
    """One sleeping environment: why, since when, and (outside office hours) until when."""

    pr_number: int
    kind: RestKind
    since: dt.datetime | None = None
    #: When it wakes by itself (office hours opening); None: when something wakes it.
    until: dt.datetime | None = None
    #: Its instance was handed to a waiting PR; it queues again once awake.
    without_instance: bool = False
    #: The words people read: "idle for 8 h", "sleeping until Mon 09:00 Asia/Tokyo".
    text: str = ""


@dataclass(frozen=True)
class SleepPolicy:
    """The ``[sleep]`` and ``[schedule]`` settings as the planner uses them."""

    #: Sleep after this long without activity (None: never for idleness).
    after: dt.timedelta | None = None
    #: The pool's office hours (None: always open).
    schedule: Schedule | None = None
    #: A label that pins an environment awake.
    keep_label: str = "preview:keep"
    #: A sleeping environment lets its instance go to the oldest waiting PR.
    hand_over: bool = True

    @property
    def wake_window(self) -> dt.timedelta:
        return self.after or DEFAULT_WAKE_WINDOW

    @property
    def active(self) -> bool:
        """Any rule beyond "stopped on request" applies."""
        return self.after is not None or self.schedule is not None

    def closed(self, now: dt.datetime) -> bool:
        """Outside the pool's office hours (nothing is launched, environments sleep)."""
        return self.schedule is not None and not self.schedule.is_open(now)

    def until_text(self, until: dt.datetime | None) -> str:
        if until is None or self.schedule is None:
            return "sleeping outside office hours"
        return f"sleeping until {self.schedule.local_text(until)}"


def _hours(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h" if hours >= 1 else f"{round(delta.total_seconds() / 60)} min"


def rest_for(
    number: int,
    labels: tuple[str, ...],
    requested: bool,
    activity: Activity | None,
    policy: SleepPolicy,
    now: dt.datetime,
) -> Rest | None:
    """Whether PR ``number``'s environment sleeps now, and why (None: it is awake).

    In order: stopped on request sleeps until woken; a pin (or the keep label) keeps it awake;
    a wake within the wake window keeps it awake; outside office hours it sleeps until they
    open; idle for ``after`` it sleeps until something wakes it. A push outside office hours
    is deployed when they open (a visit wakes it at once).
    """
    if requested:
        return Rest(number, RestKind.REQUESTED, text=REQUESTED_TEXT)
    if activity is None or not policy.active:
        return None
    if activity.pinned(now) or (policy.keep_label and policy.keep_label in labels):
        return None
    if activity.woken_at is not None and now - activity.woken_at < policy.wake_window:
        return None
    if policy.schedule is not None and not policy.schedule.is_open(now):
        until = policy.schedule.next_change(now)
        since = policy.schedule.last_change(now)
        return Rest(number, RestKind.OFF_HOURS, since, until, text=policy.until_text(until))
    if policy.after is not None and now - activity.active_at >= policy.after:
        since = activity.active_at + policy.after
        text = f"idle for {_hours(policy.after)}; a push or a visit of its link wakes it"
        return Rest(number, RestKind.IDLE, since, text=text)
    return None
