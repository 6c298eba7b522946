"""Which part of pullrekun carries out each kind of action: one table, one dispatcher.

A pass records its intent first; the actions whose whole effect is a record (assignments,
approvals, answered requests) are carried out by that record. The dispatcher then hands every
other action to the one executor of its carrier, in a fixed order: EC2 API calls, GitHub
API calls, then the pass's single playbook run, then the bookkeeping its outcomes allow (the
instances' tags of what they serve). Adding a kind of action means: a type in
:mod:`pullrekun.core.model`, a planner rule, one entry in :data:`CARRIED_OUT_BY`. The README's
action table is tested against this table.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pullrekun.adapters.playbook.runner import RunResult
from pullrekun.adapters.state.journal import DeployOutcome
from pullrekun.app.poolchanges import PoolChangeOutcome
from pullrekun.app.revocations import Revocation
from pullrekun.core.fleet import (
    AdoptLaunch,
    ForgetLaunch,
    ForgetLaunchRequest,
    LaunchInstance,
    TerminateInstance,
)
from pullrekun.core.model import (
    Action,
    Assign,
    CloneSchema,
    Deploy,
    DropSchema,
    ForgetApproval,
    ForgetInstanceRequest,
    ForgetResetLabel,
    ForgetSchemaDrop,
    Plan,
    RecordApproval,
    RegisterInstance,
    RetireInstance,
    RevokeApproval,
    StartInstance,
    StopInstance,
    TagInstance,
    Touch,
    Unassign,
    UntagInstance,
)
from pullrekun.core.servers import MarkServer, SwitchServer


class Carrier(enum.StrEnum):
    #: The state DB, in the transaction that records the pass's intent.
    STATE = "state"
    #: An EC2 API call from the pass (boto3).
    EC2 = "ec2"
    #: A GitHub API call from the pass.
    GITHUB = "github"
    #: The pass's one ansible-runner run of ``playbooks/reconcile.yml``.
    PLAYBOOK = "playbook"
    #: EC2 tag writes from the pass after the playbook run (records of what a host serves, off
    #: the deploys' way).
    TAGS = "tags"
    #: The run of ``playbooks/launch.yml`` a pass makes before it plans again with the new
    #: instances (:meth:`pullrekun.app.reconcile.Pass.launch_round`).
    LAUNCH = "launch"


#: What carries out each kind of action.
CARRIED_OUT_BY: Mapping[type[Action], Carrier] = {
    Assign: Carrier.STATE,
    Unassign: Carrier.STATE,
    RecordApproval: Carrier.STATE,
    ForgetApproval: Carrier.STATE,
    ForgetResetLabel: Carrier.STATE,
    ForgetInstanceRequest: Carrier.STATE,
    ForgetSchemaDrop: Carrier.STATE,
    AdoptLaunch: Carrier.STATE,
    ForgetLaunch: Carrier.STATE,
    ForgetLaunchRequest: Carrier.STATE,
    Touch: Carrier.STATE,
    MarkServer: Carrier.STATE,
    SwitchServer: Carrier.PLAYBOOK,
    LaunchInstance: Carrier.LAUNCH,
    TerminateInstance: Carrier.PLAYBOOK,
    RegisterInstance: Carrier.EC2,
    RetireInstance: Carrier.EC2,
    RevokeApproval: Carrier.GITHUB,
    StartInstance: Carrier.PLAYBOOK,
    StopInstance: Carrier.PLAYBOOK,
    DropSchema: Carrier.PLAYBOOK,
    CloneSchema: Carrier.PLAYBOOK,
    Deploy: Carrier.PLAYBOOK,
    TagInstance: Carrier.TAGS,
    UntagInstance: Carrier.TAGS,
}
#: Where each carrier's code is (the README's action table names it).
WHERE: Mapping[Carrier, str] = {
    Carrier.STATE: "pullrekun/adapters/state/journal.py",
    Carrier.EC2: "pullrekun/app/poolchanges.py",
    Carrier.GITHUB: "pullrekun/app/revocations.py",
    Carrier.PLAYBOOK: "pullrekun/adapters/playbook/apply.py",
    Carrier.LAUNCH: "pullrekun/adapters/playbook/launch.py",
    Carrier.TAGS: "pullrekun/app/bookkeeping.py",
}
#: The order the dispatcher calls executors in (the state's work is done with the intent, the
#: launches before the plan the dispatcher gets).
ORDER = (Carrier.EC2, Carrier.GITHUB, Carrier.PLAYBOOK, Carrier.TAGS)


@dataclass(frozen=True)
class Done:
    """What the executors report back; the pass records it."""

    deploys: tuple[DeployOutcome, ...] = ()
    #: The playbook run (None when the plan needed none).
    run: RunResult | None = None
    pool_changes: tuple[PoolChangeOutcome, ...] = ()
    revocations: tuple[Revocation, ...] = ()
    #: Schemas the playbook dropped, by instance.
    dropped: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Instances terminated (id -> why), and those termination protection kept (id -> EC2's answer).
    terminated: Mapping[str, str] = dataclasses.field(default_factory=dict)
    protected: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Tag writes that failed (instance id -> EC2's answer); the next pass sees them missing.
    untagged: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __add__(self, other: Done) -> Done:
        return Done(
            self.deploys + other.deploys,
            other.run if other.run is not None else self.run,
            self.pool_changes + other.pool_changes,
            self.revocations + other.revocations,
            {**self.dropped, **other.dropped},
            {**self.terminated, **other.terminated},
            {**self.protected, **other.protected},
            {**self.untagged, **other.untagged},
        )


#: Carries out ``actions`` (all of one carrier); the whole plan is there for context, and what
#: the carriers before it did (the tags of a deploy are written only if it succeeded).
Executor = Callable[[tuple[Action, ...], Plan, Done], Done]


def action_types() -> tuple[type[Action], ...]:
    """Every kind of action the core defines."""
    return typing.get_args(Action)


def actions_for(plan: Plan, carrier: Carrier) -> tuple[Action, ...]:
    return tuple(a for a in plan.actions if CARRIED_OUT_BY[type(a)] is carrier)


def carries(plan: Plan, carrier: Carrier) -> bool:
    """Whether ``plan`` holds work for ``carrier`` (a plan without playbook work costs no run)."""
    return bool(actions_for(plan, carrier))


def dispatch(plan: Plan, executors: Mapping[Carrier, Executor]) -> Done:
    """Hand each action to its carrier's executor, each executor called once at most."""
    done = Done()
    for carrier in ORDER:
        actions = actions_for(plan, carrier)
        if actions:
            done = done + executors[carrier](actions, plan, done)
    return done


def table() -> tuple[tuple[str, Carrier, str], ...]:
    """(action, carrier, where) for every kind of action, in the core's order."""
    return tuple(
        (kind.__name__, CARRIED_OUT_BY[kind], WHERE[CARRIED_OUT_BY[kind]]) for kind in action_types()
    )
