"""What ``pullrekun status`` shows: every slot, and the queue, from the state DB and EC2."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from pullrekun.adapters import ec2
from pullrekun.adapters.github.client import backoff_until
from pullrekun.adapters.state.store import Store
from pullrekun.config import Config
from pullrekun.core.model import Instance


@dataclass(frozen=True)
class SlotView:
    instance_id: str
    state: str
    pr: int | None
    sha: str | None
    url: str
    status: str
    since: str | None
    failed_task: str | None = None
    message: str | None = None
    db_schema: str | None = None
    db_source: str | None = None
    db_cloned_at: str | None = None


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def collect(cfg: Config, store: Store, now: dt.datetime | None = None) -> dict[str, Any]:
    problem = None
    try:
        instances: tuple[Instance, ...] = ec2.observe_pool(ec2.client(cfg.ec2), cfg.ec2.pool)
    except ec2.EC2Unavailable as exc:
        instances, problem = (), str(exc)
    by_id = {i.instance_id: i for i in instances}
    envs = {e.assignment.instance_id: e for e in store.environments()}
    slots = []
    for iid in sorted(set(by_id) | set(envs)):
        inst, env = by_id.get(iid), envs.get(iid)
        asg = env.assignment if env else None
        host = inst.ansible_host if inst else ""
        slots.append(
            SlotView(
                instance_id=iid,
                state=str(inst.state) if inst else ("unknown" if problem else "gone"),
                pr=asg.pr_number if asg else None,
                sha=asg.deployed_sha if asg else None,
                url=cfg.url_for(host, inst.url if inst else "", asg.pr_number if asg else None)
                if asg and inst
                else "",
                status=str(asg.status) if asg else "free",
                since=_iso(asg.since) if asg else None,
                failed_task=env.failed_task if env else None,
                message=env.message if env else None,
                db_schema=env.db_schema if env else None,
                db_source=asg.db_source if asg else None,
                db_cloned_at=_iso(env.db_cloned_at) if env else None,
            )
        )
    queue = [{"pr": pr, "position": pos, "since": _iso(since)} for pr, pos, since in store.queue()]
    return {
        "pool": cfg.ec2.pool,
        "slots": [asdict(s) for s in slots],
        "queue": queue,
        "ec2_problem": problem,
        "github": github_facts(store, now or dt.datetime.now(dt.UTC)),
    }


def github_facts(store: Store, now: dt.datetime) -> dict[str, Any]:
    """The rate limit as the last pass saw it, and a back-off GitHub asked for, if still on."""
    facts = store.github_state()
    out: dict[str, Any] = {"rate_remaining": None, "rate_limit": None, "rate_reset": None}
    if facts.get("rate_remaining", "").isdigit():
        out["rate_remaining"] = int(facts["rate_remaining"])
        out["rate_limit"] = int(facts["rate_limit"]) if facts.get("rate_limit", "").isdigit() else None
        if facts.get("rate_reset", "").isdigit():
            out["rate_reset"] = _iso(dt.datetime.fromtimestamp(int(facts["rate_reset"]), dt.UTC))
    out["backoff_until"] = _iso(backoff_until(facts, now))
    out["backoff_reason"] = facts.get("backoff_reason") if out["backoff_until"] else None
    return out


def render_table(data: dict[str, Any]) -> str:
    headers = ["INSTANCE", "STATE", "PR", "SHA", "STATUS", "SINCE", "URL"]
    rows = [
        [
            s["instance_id"],
            s["state"],
            f"#{s['pr']}" if s["pr"] else "-",
            (s["sha"] or "-")[:12],
            s["status"],
            s["since"] or "-",
            s["url"] or "-",
        ]
        for s in data["slots"]
    ]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]
    ]
    for s in data["slots"]:
        if s["db_schema"]:
            db = f"{s['db_schema']} cloned from {s['db_source']} at {s['db_cloned_at']}"
            lines.append(f"  {s['instance_id']} database {db}")
        if s["status"] == "failed":
            first = (s["message"] or "").splitlines()[:1]
            lines.append(f"  {s['instance_id']} failed at {s['failed_task']!r}: {' '.join(first)}")
    if data["queue"]:
        waiting = ", ".join(f"#{q['pr']} ({q['position']})" for q in data["queue"])
        lines.append(f"queue: {waiting}")
    else:
        lines.append("queue: empty")
    if data["ec2_problem"]:
        lines.append(f"EC2 could not be read: {data['ec2_problem']}")
    gh = data["github"]
    if gh["rate_remaining"] is not None:
        left = f"{gh['rate_remaining']}/{gh['rate_limit'] or '?'}"
        lines.append(f"GitHub: {left} requests left, resets at {gh['rate_reset']}")
    if gh["backoff_until"]:
        lines.append(f"GitHub: backing off until {gh['backoff_until']} ({gh['backoff_reason']})")
    return "\n".join(lines)
