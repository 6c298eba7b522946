"""What the command line prints: plans, pass results, status and release notices as text,
from the typed values (every line neutralised: messages and URLs come from task output and tags)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pullrekun.adapters.state.notices import Notice
from pullrekun.app.readmodel import Snapshot
from pullrekun.app.results import PassResult
from pullrekun.core.model import Plan
from pullrekun.core.text import neutralise


def plan_text(plan: Plan) -> str:
    """``pullrekun plan``: one line per action, then the queue, the PRs left out and notes."""
    lines = [] if plan.actions else ["nothing to do"]
    for action in plan.actions:
        fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(action).items())
        lines.append(f"{type(action).__name__}: {fields}")
    for q in plan.queue:
        why = f" ({q.launch_failure})" if q.launch_failure else " (an instance is being launched for it)"
        held = f" (held: {q.held})" if q.held else ""
        lines.append(
            f"queued: PR #{q.pr_number} position {q.position}"
            f"{why if q.launching or q.launch_failure else ''}{held}"
        )
    for rest in plan.resting:
        without = " (its instance went to a waiting PR)" if rest.without_instance else ""
        lines.append(f"asleep: PR #{rest.pr_number}: {rest.text}{without}")
    lines += [f"no environment: PR #{s.pr_number}: {s.reason}" for s in plan.skipped]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(neutralise(line) for line in lines)


def pass_text(result: PassResult) -> str:
    """``pullrekun reconcile``: what the pass did, and where each failure happened."""
    assert result.plan is not None
    failed = [o for o in result.outcomes if not o.ok]
    done = len(result.outcomes) - len(failed)
    lines = [
        f"pass done: {len(result.plan.actions)} actions, {done} deployed, {len(failed)} failed, "
        f"{len(result.plan.queue)} queued"
    ]
    lines += [f"  PR #{o.pr_number} ({o.instance_id}) failed at {o.failed_task!r}" for o in failed]
    if result.launches:
        made = sum(1 for launch in result.launches if launch.ok)
        lines.append(f"  launched {made} of {len(result.launches)} instance(s) first")
    lines += [f"  launch {x.token} failed: {x.problem}" for x in result.launches if not x.ok]
    return "\n".join(neutralise(line) for line in lines)


def notice_line(notice: Notice) -> str:
    sends = ", ".join(f"{x.channel} {x.state}" for x in notice.sends) or "not announced"
    sha = (notice.sha or "-")[:12]
    return neutralise(f"{notice.id:>5}  {_when(notice.created_at)}  {notice.kind:<9} {sha:<12}  {sends}")


def _when(t: dt.datetime | None) -> str:
    return t.isoformat(timespec="seconds") if t else "-"


def _fleet_lines(snap: Snapshot) -> list[str]:
    sweeps = [f"sweep: {s.instance_id or '-'} {s.kind}: {s.message}" for s in snap.sweeps[:5]]
    fleet = snap.fleet
    if fleet is None:
        return sweeps
    managed = sum(1 for i in snap.instances if i.managed)
    lines = [
        f"fleet: {managed} launched, {fleet.in_flight} in flight, {fleet.failed} failed"
        f" (template {fleet.launch_template or '-'}, min {fleet.min_size}, max {fleet.max_size})"
    ]
    for launch in fleet.launches:
        if launch.state == "failed":
            retry = f"; tried again at {_when(launch.retry_at)}" if launch.retry_at else ""
            lines.append(f"  launch failed ({launch.reason}): {launch.failure}{retry}")
        elif launch.state == "in flight":
            lines.append(f"  launch in flight since {_when(launch.requested_at)}: {launch.reason}")
        elif launch.protected:
            lines.append(f"  {launch.instance_id}: termination protection is on (kept)")
    return lines + sweeps


def _sleep_lines(snap: Snapshot) -> list[str]:
    """Who sleeps and why, who is kept awake, office hours, and the month's cost."""
    lines = []
    currency = snap.cost.currency if snap.cost is not None else "$"
    for rest in snap.sleeping:
        until = f" until {_when(rest.until)}" if rest.until else ""
        where = " (no instance: woken, it queues)" if rest.without_instance else ""
        lines.append(f"  #{rest.pr} sleeping since {_when(rest.since)}{until}: {rest.text}{where}")
    for env in snap.environments:
        if env.pinned_by:
            until = _when(env.pinned_until) if env.pinned_until else "removed"
            lines.append(f"  #{env.pr} kept awake by {env.pinned_by} until {until}")
        if env.hours:
            lines.append(f"  #{env.pr} ran {env.hours:.1f} h, about {currency}{env.cost:,.2f}")
    hours = snap.office_hours
    if hours is not None:
        state = "open" if hours.open else "closed"
        lines.append(f"office hours: {hours.schedule}; {state} until {hours.next_change_text}")
    cost = snap.cost
    if cost is not None and (cost.hours or cost.budget):
        line = f"{cost.month}: {cost.hours:.1f} instance-hours, about {cost.currency}{cost.amount:,.2f}"
        if cost.budget:
            state = "lifted" if cost.budget_lifted else ("spent" if cost.over_budget else "left")
            line += f" of a {cost.currency}{cost.budget:,.2f} budget ({state})"
        lines.append(line)
    return lines


def status_table(snap: Snapshot) -> str:
    """``pullrekun status``: one row per pool instance, then details, the queue and GitHub."""
    envs = {e.instance_id: e for e in snap.environments}
    headers = ["INSTANCE", "STATE", "PR", "SHA", "STATUS", "SINCE", "URL"]
    rows = []
    for inst in snap.instances:
        env = envs.get(inst.instance_id)
        if env is None:
            rows.append([inst.instance_id, inst.state, "-", "-", "free", "-", "-"])
            continue
        sha = (env.sha or "-")[:12]
        rows.append(
            [inst.instance_id, inst.state, f"#{env.pr}", sha, env.shown, _when(env.since), env.url or "-"]
        )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    blind = [i.instance_id for i in snap.instances if i.host_key == "first contact"]
    if blind:
        lines.append(f"  host keys accepted on first contact (no keys on the console): {', '.join(blind)}")
    for env in snap.environments:
        if env.db_schema:
            db = f"{env.db_schema} cloned from {env.db_source} at {_when(env.db_cloned_at)}"
            lines.append(f"  {env.instance_id} database {db}")
        if env.status == "failed":
            first = (env.message or "").splitlines()[:1]
            where = f"the {env.failed_step} step ({env.failed_task!r})"
            lines.append(f"  {env.instance_id} failed at {where}: {' '.join(first)}")
    waiting = ", ".join(f"#{q.pr} ({q.position})" for q in snap.queue)
    lines.append(f"queue: {waiting or 'empty'}")
    lines.extend(_sleep_lines(snap))
    if snap.ec2_problem:
        lines.append(f"EC2 could not be read: {snap.ec2_problem}")
    for drop in snap.schema_drops:
        lines.append(
            f"schema {drop.schema} of {drop.instance_id} waits to be dropped (since {_when(drop.since)})"
        )
    for refusal in snap.refused:
        lines.append(f"refused: {refusal.instance_id}: {refusal.reason} (pullrekun leaves it alone)")
    lines.extend(_fleet_lines(snap))
    gh = snap.github
    if gh.rate_remaining is not None:
        left = f"{gh.rate_remaining}/{gh.rate_limit or '?'}"
        lines.append(f"GitHub: {left} requests left, resets at {_when(gh.rate_reset)}")
    if gh.backoff_until:
        lines.append(f"GitHub: backing off until {_when(gh.backoff_until)} ({gh.backoff_reason})")
    rel = snap.release
    if rel is not None:
        where = (rel.production_sha or "unknown")[:12]
        lines.append(f"production: {where} (read {_when(rel.read_at)})")
        if rel.problem:
            lines.append(f"production could not be read: {rel.problem} (no notice until it can)")
        if rel.last_move:
            moved = f"{rel.last_move} {(rel.last_move_sha or '')[:12]}"
            lines.append(f"last production move: {moved} at {_when(rel.last_move_at)}")
        if rel.unsent:
            lines.append(f"release notices waiting to be sent: {rel.unsent}")
        lines.extend(f"uncertain: {text}" for text in rel.uncertain)
    # Messages, reasons and URLs come from task output and EC2 tags: nothing may drive the terminal.
    return "\n".join(neutralise(line).replace("\n", " ") for line in lines)
