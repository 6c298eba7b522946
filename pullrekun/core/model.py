"""The values a pass reasons about: what was observed, and what the planner decided.

Everything here is a frozen dataclass built from validated data, so the planner can
be a pure function and a plan can be printed, compared and replayed.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pullrekun.core.approvals import Approval as Approval
from pullrekun.core.approvals import ApprovalEvidence as ApprovalEvidence
from pullrekun.core.approvals import ForgetApproval as ForgetApproval
from pullrekun.core.approvals import RecordApproval as RecordApproval
from pullrekun.core.approvals import RevokeApproval as RevokeApproval
from pullrekun.core.fleet import (
    AdoptLaunch,
    ForgetLaunch,
    ForgetLaunchRequest,
    LaunchInstance,
    LaunchRecord,
    LaunchRequest,
    TerminateInstance,
)
from pullrekun.core.servers import MarkServer, Server, ServerRecord, SwitchServer
from pullrekun.core.sleep import Activity, Rest
from pullrekun.core.validate import check_instance_id, check_pr_number, check_sha
from pullrekun.core.wishes import InstanceRequest as InstanceRequest
from pullrekun.core.wishes import InstanceWish as InstanceWish


class InstanceState(enum.StrEnum):
    """EC2 instance states, as DescribeInstances reports them."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"


#: States in which an instance is (or is becoming) up: no start needed.
UP_STATES = frozenset({InstanceState.PENDING, InstanceState.RUNNING})
#: States in which an instance can be given to a PR in this pass.
ASSIGNABLE_STATES = frozenset({InstanceState.PENDING, InstanceState.RUNNING, InstanceState.STOPPED})


class EnvStatus(enum.StrEnum):
    """Where an environment stands, as recorded in the state DB."""

    ASSIGNED = "assigned"  # instance assigned, nothing deployed yet
    DEPLOYING = "deploying"  # a pass started deploying it (and may have died)
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class PullRequest:
    """An open pull request, reduced to the fields pullrekun acts on.

    The title and branch name are kept for display only; they never cross into
    Ansible, a shell or SQL.
    """

    number: int
    head_sha: str
    created_at: dt.datetime
    author: str = ""
    title: str = ""
    head_ref: str = ""
    base_ref: str = "main"
    draft: bool = False
    from_fork: bool = False
    labels: tuple[str, ...] = ()
    #: The repository is public: anyone can read what is posted on the PR.
    public_repo: bool = False
    #: The PR's description (its author's text, capped; display and the test scenario only).
    body: str = ""

    def __post_init__(self) -> None:
        check_pr_number(self.number)
        check_sha(self.head_sha)


@dataclass(frozen=True)
class Instance:
    """A pool instance as EC2 describes it."""

    instance_id: str
    state: InstanceState
    ansible_host: str
    url: str = ""
    db_schema: str = ""
    tag_pr: int | None = None
    tag_sha: str | None = None
    #: ``ansible_host`` came from the ``pullrekun:ansible_host`` tag (not the private IP).
    host_tagged: bool = False
    #: The instance's own private and public addresses.
    own_addresses: tuple[str, ...] = ()
    vpc_id: str = ""
    subnet_id: str = ""
    #: When EC2 last started it (LaunchTime): how long a running instance has been up.
    launched_at: dt.datetime | None = None
    #: Its ``pullrekun:launch`` tag (a launch's client token, checked): managed only if pullrekun
    #: recorded that launch (:mod:`pullrekun.core.fleet`).
    launch_token: str = ""
    #: EC2's instance type (what an hour of it costs: pullrekun.core.cost).
    instance_type: str = ""

    def __post_init__(self) -> None:
        check_instance_id(self.instance_id)


@dataclass(frozen=True)
class Assignment:
    """A PR's hold on a pool instance (its environment), as the state DB records it."""

    pr_number: int
    instance_id: str
    status: EnvStatus
    deployed_sha: str | None = None
    since: dt.datetime | None = None
    #: Schema the environment's database was last cloned from (None: not cloned yet).
    db_source: str | None = None
    #: `pullrekun reset-db` asked for a fresh clone.
    db_reset_requested: bool = False
    #: The last clone answered the reset label; it stays "seen" until the label goes.
    db_reset_seen: bool = False
    #: Someone asked for the same commit to be deployed again (the dashboard).
    redeploy_requested: bool = False
    #: Stopped on request: the instance stays this PR's, stopped, until someone wakes it.
    asleep: bool = False
    #: The nonce the environment's database password derives from (pullrekun.core.dbusers),
    #: picked by the clone that gave this PR its schema; None: none yet (or cloned before nonces).
    db_nonce: str | None = None
    #: The PR's own settings its environment last got ([app] pr_settings), sorted pairs.
    settings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Observed:
    """Everything one pass read before planning.

    ``prs`` is the complete list of open PRs. A pass that could not read it must
    not build an ``Observed`` at all (never an empty list in its place): an empty
    tuple here means "GitHub said there are no open PRs".
    """

    prs: tuple[PullRequest, ...]
    instances: tuple[Instance, ...]
    assignments: tuple[Assignment, ...]
    approvals: tuple[Approval, ...] = ()
    #: Per fork PR: who approved it and when (PRs from the same repository need none).
    evidence: Mapping[int, ApprovalEvidence] = field(default_factory=dict)
    #: What people asked of instances, one wish per instance.
    instance_requests: tuple[InstanceRequest, ...] = ()
    #: The dashboard's edits of the developer -> schema table (login -> schema), as recorded.
    edited_authors: Mapping[str, str] = field(default_factory=dict)
    #: Schemas of closed environments still to drop (``on_close = "drop"``): instance -> schema.
    schema_drops: Mapping[str, str] = field(default_factory=dict)
    #: pullrekun's own launch records (those not terminated).
    launches: tuple[LaunchRecord, ...] = ()
    #: Instances that ran code of a PR not trusted by default.
    untrusted: frozenset[str] = frozenset()
    #: Launches people asked for (the dashboard's *Launch one*, the API).
    launch_requests: tuple[LaunchRequest, ...] = ()
    #: What the sleep rules know of each PR (pullrekun.core.sleep), by PR number.
    activity: Mapping[int, Activity] = field(default_factory=dict)
    #: What the pool's instances cost this month so far (``[cost]``), and whether an admin lifted
    #: the monthly budget for this month.
    month_cost: float = 0.0
    budget_lifted: bool = False
    #: Each PR's own settings as they should be (the dashboard's and its labels'), sorted pairs.
    pr_settings: Mapping[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: Developers' own servers (``pullrekun:schedule=<name>``), and what pullrekun recorded of each.
    servers: tuple[Server, ...] = ()
    server_records: Mapping[str, ServerRecord] = field(default_factory=dict)


# --- Actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    """Record that ``pr_number`` holds ``instance_id``."""

    pr_number: int
    instance_id: str


@dataclass(frozen=True)
class Unassign:
    """Drop an assignment whose PR closed (or whose instance vanished)."""

    pr_number: int
    instance_id: str
    reason: str
    #: An asleep environment handing its instance to a waiting PR: it queues again once woken.
    set_aside: bool = False


@dataclass(frozen=True)
class Touch:
    """Record activity of a PR (pullrekun.core.sleep): a push or first sighting (``head_sha``), or
    an instance given to it. Its idle clock starts again."""

    pr_number: int
    head_sha: str
    reason: str


@dataclass(frozen=True)
class StartInstance:
    instance_id: str


@dataclass(frozen=True)
class StopInstance:
    """Stop the app (if reachable) and the instance (an :class:`UntagInstance` clears its tags
    once it is stopped). ``wipe``: the instance serves no PR any more, so what the last one's
    code left on it goes too."""

    instance_id: str
    reason: str
    wipe: bool = True
    #: The orphan sweep's: the instance runs, or carries PR tags, for no PR that holds it.
    swept: bool = False


@dataclass(frozen=True)
class Deploy:
    """Bring ``instance_id`` to serve PR ``pr_number`` at ``sha``."""

    pr_number: int
    instance_id: str
    sha: str
    reason: str
    #: The nonce the environment's database password derives from (its clone's, or the one
    #: recorded for the environment); "" without per-environment users or before any clone.
    db_nonce: str = ""
    #: The PR is not trusted by default (from a fork): the host is marked as having run it.
    untrusted: bool = False
    #: A freshly launched instance: roles/staging bootstraps it first, in the same run.
    bootstrap: bool = False
    #: The PR's own settings for its app.env ([app] pr_settings), sorted pairs.
    settings: tuple[tuple[str, str], ...] = ()
    #: The schema the environment's database is a copy of (its changes are told against it).
    db_source: str = ""


@dataclass(frozen=True)
class TagInstance:
    """Record on the instance which PR and commit it serves (its ``pullrekun:pr`` and
    ``pullrekun:sha`` tags): bookkeeping, written by the pass after the hosts are served, never
    on a deploy's way. ``deployed``: only if this pass's deploy of the instance succeeded."""

    instance_id: str
    pr_number: int
    sha: str
    deployed: bool = False


@dataclass(frozen=True)
class UntagInstance:
    """Clear the instance's ``pullrekun:pr`` and ``pullrekun:sha`` tags (bookkeeping, like
    :class:`TagInstance`). ``after_stop``: the instance is stopped in this pass, and its tags go
    only if that stop succeeded; otherwise it is stopped already and its tags name a PR that does
    not hold it (``reason`` says which; ``swept``: the orphan sweep's, said in the activity log)."""

    instance_id: str
    reason: str = ""
    after_stop: bool = True
    swept: bool = False


@dataclass(frozen=True)
class CloneSchema:
    """Replace the environment's schema with a copy of ``source`` (before its Deploy), under
    new database credentials: the schema's owner from now on is ``pr_number`` (``nonce``)."""

    pr_number: int
    instance_id: str
    source: str
    target: str
    reason: str
    reset_label: bool = False
    nonce: str = ""


@dataclass(frozen=True)
class DropSchema:
    """Drop the schema of an environment whose PR closed (``on_close = "drop"``)."""

    instance_id: str
    schema: str


@dataclass(frozen=True)
class ForgetSchemaDrop:
    """A recorded schema drop is moot: the instance went to another PR (whose clone replaces the
    schema whole)."""

    instance_id: str
    reason: str


@dataclass(frozen=True)
class ForgetResetLabel:
    """The reset label was removed: a later one asks for a new clone."""

    pr_number: int


@dataclass(frozen=True)
class RegisterInstance:
    """Tag ``instance_id`` into the pool (asked by someone; it is checked by the pool's tag policy
    on the next pass like any other member)."""

    instance_id: str
    actor: str | None = None


@dataclass(frozen=True)
class RetireInstance:
    """Remove a stopped, free instance from the pool (its pullrekun tags)."""

    instance_id: str
    actor: str | None = None


@dataclass(frozen=True)
class ForgetInstanceRequest:
    """A wish is answered, or moot (the instance went to a PR, left the pool, was already in it)."""

    instance_id: str
    reason: str


Action = (
    Assign
    | Unassign
    | StartInstance
    | StopInstance
    | DropSchema
    | ForgetSchemaDrop
    | CloneSchema
    | Deploy
    | TagInstance
    | UntagInstance
    | ForgetResetLabel
    | RecordApproval
    | RevokeApproval
    | ForgetApproval
    | RegisterInstance
    | RetireInstance
    | ForgetInstanceRequest
    | LaunchInstance
    | AdoptLaunch
    | ForgetLaunch
    | ForgetLaunchRequest
    | TerminateInstance
    | Touch
    | SwitchServer
    | MarkServer
)
_A = TypeVar("_A")


@dataclass(frozen=True)
class QueuedPR:
    pr_number: int
    position: int  # 1-based
    #: An instance is being launched for it.
    launching: bool = False
    #: The launch it waits for failed: why, and when it is tried again.
    launch_failure: str = ""
    #: Held back though its turn may have come: outside office hours, or the budget is spent.
    held: str = ""


@dataclass(frozen=True)
class SkippedPR:
    """An open PR that gets no environment, and why (shown on the PR as a neutral status)."""

    pr_number: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """Ordered actions for one pass, plus the PRs left waiting or left out."""

    actions: tuple[Action, ...] = ()
    queue: tuple[QueuedPR, ...] = ()
    notes: tuple[str, ...] = ()
    skipped: tuple[SkippedPR, ...] = ()
    #: Instances held once the plan is applied.
    busy: int = 0
    #: The environments asleep once the plan is applied (pullrekun.core.sleep), by PR number.
    resting: tuple[Rest, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    def of_type(self, kind: type[_A]) -> tuple[_A, ...]:
        return tuple(a for a in self.actions if isinstance(a, kind))
