"""Decide what one pass must do. Pure: no I/O, no clock of its own, same input -> same plan.

The planner is level-triggered: it compares the complete observed world (open PRs,
pool instances, recorded assignments) with the desired one (every open PR on an instance
running its head commit, oldest PRs first when instances are short, nothing running for
nobody) and returns the difference as ordered, typed actions. Whether an event was
missed never matters: the next pass sees the same world and plans the same fix.

Import-linter forbids this module (and ``pullrekun.core.model``) from importing any I/O
library; see ``[tool.importlinter]`` in pyproject.toml.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from pullrekun.core import fleetplan, holdings
from pullrekun.core.dbpolicy import DatabasePolicy
from pullrekun.core.draft import Draft, free_key, queue_key, settle_free, wishes_outside
from pullrekun.core.fleet import FleetPolicy, TerminateInstance
from pullrekun.core.model import (
    Action,
    Assignment,
    Instance,
    InstanceWish,
    Observed,
    Plan,
    PullRequest,
    Unassign,
)
from pullrekun.core.schedules import Schedule
from pullrekun.core.servers import switch_servers
from pullrekun.core.sleep import SleepPolicy
from pullrekun.core.sleepplan import SleepPass, budget_text, kept_by_sleepers
from pullrekun.core.trust import TrustPolicy


@dataclass(frozen=True)
class PlannerConfig:
    """The few settings that change decisions (not how they are carried out)."""

    #: How long a failed environment waits before the next deploy attempt.
    failed_retry_after: dt.timedelta = dt.timedelta(0)
    #: Per-environment databases; None: environments get no schema of their own.
    database: DatabasePolicy | None = None
    #: Which open PRs get an environment.
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    #: Launches, replacements and scale-in (``[ec2] launch_template``).
    fleet: FleetPolicy = field(default_factory=FleetPolicy)
    #: Idle sleep, office hours, the keep label (``[sleep]``, ``[schedule]``).
    sleep: SleepPolicy = field(default_factory=SleepPolicy)
    #: Developers' servers' schedules by name (``[schedules.<name>]``).
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    #: The pool's monthly budget (0: none): past it nothing is started or launched.
    budget: float = 0.0
    currency: str = "$"

    def over_budget(self, observed: Observed) -> str:
        """Why nothing may be started or launched this month ("" if it may)."""
        if self.budget and observed.month_cost >= self.budget and not observed.budget_lifted:
            return budget_text(self.budget, self.currency)
        return ""


def _waiting_and_free(
    sleep: SleepPass,
    observed: Observed,
    config: PlannerConfig,
    eligible: Mapping[int, PullRequest],
    kept: dict[int, Assignment],
    retiring: set[str],
) -> tuple[list[PullRequest], list[PullRequest], list[Instance], list[Instance], list[Unassign]]:
    """Who sleeps, the waiting PRs that may get an instance now and those held back, the free
    instances, and the sleepers' instances handed over (their holds leave ``kept``)."""
    instances = {inst.instance_id: inst for inst in observed.instances}
    for number, asg in kept.items():
        sleep.rest_of(eligible[number], asg, instances[asg.instance_id])
    waiting = sorted((pr for pr in eligible.values() if pr.number not in kept), key=queue_key)
    ready, held_back = sleep.set_aside(waiting)
    free = sleep.free_instances(observed, kept, retiring)
    keep = kept_by_sleepers(config.fleet, observed)
    gone, handed = sleep.hand_over(kept, instances, len(ready) - len(free), keep)
    for g in gone:
        del kept[g.pr_number]
    return ready, held_back, free, handed, gone


def plan(observed: Observed, config: PlannerConfig, now: dt.datetime) -> Plan:
    """Return the actions that bring the world to the desired state.

    Order of the result: approvals, adopted launches, unassignments, replacements, scale-in,
    forgotten and new launches, stops, drops, assignments, starts, schema clones, deploys,
    forgotten reset labels, then the pool's changes asked by people (registrations, retirements,
    answered wishes); each group sorted by PR number or instance id. A clone
    always comes with a deploy of the same environment (the app restarts on its fresh schema).

    Guarantees (checked by property tests): no instance serves two PRs, a closed or
    ineligible PR never keeps an instance, every open PR either holds an instance, has a queue
    position or is skipped with a reason, and applying a plan successfully then planning
    again yields an empty plan.
    """
    approvals, eligible, skipped = holdings.judge_trust(observed, config.trust)
    instances = {inst.instance_id: inst for inst in observed.instances}
    wishes = {r.instance_id: r for r in observed.instance_requests}
    retiring = {iid for iid, r in wishes.items() if r.wish == InstanceWish.RETIRE and iid in instances}
    fleet = fleetplan.managed(observed.instances, observed.launches)
    ended, refused_ends = fleetplan.asked_to_end(wishes, instances, fleet)
    leaving = {iid: "instance retired on request; PR requeued" for iid in retiring}
    leaving.update((t.instance_id, "instance terminated on request; PR requeued") for t in ended)
    retiring |= {t.instance_id for t in ended}
    unassign, kept = holdings.keep_or_release(observed, eligible, skipped, instances, leaving)
    sleep = SleepPass.build(observed, config.sleep, config.over_budget(observed), now)
    ready, held_back, free, handed, gone = _waiting_and_free(
        sleep, observed, config, eligible, kept, retiring
    )
    unassign.extend(gone)
    held = {asg.instance_id for asg in kept.values()}
    released = {u.instance_id for u in unassign}
    adopted = {a.instance_id for a in fleet.adopt}
    replaced, fleet_notes = fleetplan.replaced(config.fleet, fleet, held, released, observed.untrusted)
    doomed = {t.instance_id for t in replaced}
    unbooted = fleet.needs_bootstrap()
    free = [i for i in free if i.instance_id not in doomed]
    free.sort(key=lambda i: free_key(i, unbooted))
    db = config.database.with_edits(observed.edited_authors) if config.database is not None else None
    draft = Draft(db, now, unbooted, observed.pr_settings, notes=fleet_notes)
    queue = sleep.mark_held(draft.assign_waiting(ready, [*free, *handed], held_back, sleep.hold_reason()))
    for number, asg in kept.items():
        rest = sleep.rests.get(number)
        draft.refresh(asg, eligible[number], instances[asg.instance_id], config.failed_retry_after, rest)

    in_use = held | {a.instance_id for a in draft.assign}
    fleet_actions, queue, notes = fleetplan.resize(
        config.fleet, observed, fleet, in_use, retiring | doomed, queue, now, sleep.hold_reason()
    )
    draft.notes.extend(notes)
    fleet_actions = [*ended, *fleet_actions]
    terminated = doomed | {t.instance_id for t in fleet_actions if isinstance(t, TerminateInstance)}
    holders = {a.instance_id: a.pr_number for a in kept.values()}
    holders.update((a.instance_id, a.pr_number) for a in draft.assign)
    # Launched this pass (for the pool, or on request) is not an orphan either.
    settle_free(draft, observed, unassign, holders, terminated, released | adopted)
    draft.pool_changes.extend(wishes_outside(wishes, instances))
    draft.pool_changes.extend(refused_ends)
    switches, server_notes = switch_servers(observed.servers, observed.server_records, config.schedules, now)
    draft.notes.extend(server_notes)

    actions: list[Action] = [
        *approvals,
        *fleet.adopt,
        *unassign,
        *replaced,
        *fleet_actions,
        *draft.ordered(),
        *sleep.all_touches(draft.touches),
        *draft.pool_changes,
        *switches,
    ]
    return Plan(
        actions=tuple(actions),
        queue=queue,
        notes=tuple(draft.notes),
        skipped=tuple(skipped),
        busy=len(in_use),
        resting=tuple(sleep.rests[n] for n in sorted(sleep.rests)),
    )
