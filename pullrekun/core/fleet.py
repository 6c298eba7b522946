"""The fleet's values: pullrekun's own launch records, its policy, and the actions on instances'
lives (launch, adopt, terminate). Pure: the planner's fleet rules (:mod:`pullrekun.core.fleetplan`)
decide from these.

An instance is *managed* when pullrekun launched it: a launch record holds its id, or its
``pullrekun:launch`` tag names a recorded launch (adopted then). A ``pullrekun:managed`` tag alone
proves nothing (anyone who may tag instances can write it): such an instance is hand-tagged, and
pullrekun never terminates a hand-tagged instance.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from dataclasses import dataclass

from pullrekun.core.validate import InvalidInput, check_instance_id

#: A launch's client token (EC2 takes up to 64 ASCII characters): "prk-" and 32 hex digits.
TOKEN_RE = re.compile(r"\Aprk-[0-9a-f]{32}\Z")


def check_token(value: object) -> str:
    if not isinstance(value, str) or not TOKEN_RE.match(value):
        raise InvalidInput(f"not a launch token: {str(value)[:80]!r}")
    return value


def launch_token(pool: str, now: dt.datetime, index: int) -> str:
    """The client token of a new launch: derived from the pass's time, so the same observation
    plans the same launches (the planner stays pure); recorded before the call, reused by every
    retry of that launch."""
    digest = hashlib.sha256(f"{pool}\n{now.isoformat()}\n{index}".encode()).hexdigest()
    return f"prk-{digest[:32]}"


class Recycle(enum.StrEnum):
    """Which managed instances are replaced (terminated) when a PR lets them go."""

    #: Those that ran code of a PR not trusted by default (a fork): never handed on.
    UNTRUSTED = "untrusted"
    #: Every one that served a PR.
    ALWAYS = "always"
    #: None: a wipe at each hand-over, as for hand-tagged instances.
    NEVER = "never"


@dataclass(frozen=True)
class FleetPolicy:
    """The fleet settings that change decisions (``[ec2]`` launch_template and its companions)."""

    #: Launching is on (a launch template is configured).
    launches: bool = False
    pool: str = "default"
    min_size: int = 0
    max_size: int = 0
    #: How long a managed instance stays free before it is terminated (down to ``min_size``).
    scale_in_after: dt.timedelta = dt.timedelta(hours=1)
    recycle: Recycle = Recycle.NEVER
    #: A failed launch is retried after this, doubled per attempt (up to ``retry_max``).
    retry_after: dt.timedelta = dt.timedelta(minutes=1)
    retry_max: dt.timedelta = dt.timedelta(minutes=30)
    #: A launch asked for this long ago whose instance never showed in the pool is forgotten
    #: (tagged at creation, it would have: EC2 made none, or it ended before it was seen).
    lost_after: dt.timedelta = dt.timedelta(hours=1)

    def retry_at(self, failed_at: dt.datetime, attempts: int) -> dt.datetime:
        """When a launch that failed ``attempts`` times is tried again."""
        delay = self.retry_after * (1 << max(0, min(attempts - 1, 16)))
        return failed_at + min(delay, self.retry_max)


@dataclass(frozen=True)
class LaunchRecord:
    """One launch pullrekun asked EC2 for, as its state DB records it."""

    token: str
    requested_at: dt.datetime
    reason: str = ""
    #: The instance EC2 gave it (None: not seen yet: in flight, failed, or its pass died).
    instance_id: str | None = None
    attempts: int = 1
    #: The last failure and when it is retried (None: not failed).
    failure: str | None = None
    retry_at: dt.datetime | None = None
    #: roles/staging ran on it (a deploy succeeded there).
    bootstrapped: bool = False
    #: It served a PR.
    served: bool = False
    #: Since when it is free (no PR), for scale-in; None: it serves one.
    idle_since: dt.datetime | None = None
    #: EC2 refused to terminate it (termination protection): never tried again.
    protected: bool = False
    terminated: bool = False

    def __post_init__(self) -> None:
        check_token(self.token)
        if self.instance_id is not None:
            check_instance_id(self.instance_id)

    @property
    def pending(self) -> bool:
        """Asked for, no instance seen yet, and not failed."""
        return self.instance_id is None and self.failure is None and not self.terminated


@dataclass(frozen=True)
class LaunchRequest:
    """Someone asked for one more instance (it is launched if the pool has room)."""

    request_id: int
    actor: str | None = None


# --- Actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchInstance:
    """Launch one instance from the launch template, with client token ``token`` (recorded
    before the call: a retry reuses it and EC2 answers with the same instance)."""

    token: str
    reason: str
    #: The waiting PRs this launch is for (a failure is said on theirs).
    for_prs: tuple[int, ...] = ()
    #: A retry of a recorded launch (failed earlier, or its pass died before the answer).
    retry: bool = False
    #: The request it answers (the dashboard's *Launch one*), and who asked.
    request_id: int | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        check_token(self.token)


@dataclass(frozen=True)
class AdoptLaunch:
    """Record the instance a launch gave (seen by its ``pullrekun:launch`` tag)."""

    token: str
    instance_id: str

    def __post_init__(self) -> None:
        check_token(self.token)
        check_instance_id(self.instance_id)


@dataclass(frozen=True)
class ForgetLaunch:
    """A failed launch nobody waits for any more: not retried."""

    token: str
    reason: str

    def __post_init__(self) -> None:
        check_token(self.token)


@dataclass(frozen=True)
class ForgetLaunchRequest:
    """A launch someone asked for that will not be made (the pool is at ``max_size``)."""

    request_id: int
    reason: str
    actor: str | None = None


@dataclass(frozen=True)
class TerminateInstance:
    """Terminate a managed instance (never a hand-tagged one): scale-in, or a replacement of
    one that ran untrusted code."""

    instance_id: str
    reason: str
    #: Who asked (the dashboard's *Terminate*); None: the planner's own decision.
    actor: str | None = None

    def __post_init__(self) -> None:
        check_instance_id(self.instance_id)
