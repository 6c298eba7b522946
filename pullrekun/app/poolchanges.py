"""Registrations and retirements people asked for, carried out by a pass (never by the page).

The planner decides them from what it observes (a retired instance is seen stopped and free
first); here each is done with one EC2 API call, and the pass records the outcome: said in the
activity log with who asked, and its wish forgotten. A crash between the tag write and the
record is harmless: the next pass sees the instance in (or out of) the pool and the planner
forgets the wish then.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pullrekun.adapters import ec2
from pullrekun.adapters.state.store import Store
from pullrekun.config import Config
from pullrekun.core.model import Action, InstanceWish, RegisterInstance, RetireInstance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolChangeOutcome:
    instance_id: str
    #: The activity log's kind: registered, retired, register_refused, retire_refused, or
    #: pool_change_failed (EC2 did not answer: the wish stays for the next pass).
    kind: str
    message: str
    actor: str | None
    #: A registered instance that is running: someone may be working on it.
    keep_running: bool = False

    @property
    def failed(self) -> bool:
        return self.kind == "pool_change_failed"


def change_pool(cfg: Config, changes: tuple[Action, ...]) -> tuple[PoolChangeOutcome, ...]:
    """Tag each instance into the pool, or out of it (RegisterInstance, RetireInstance)."""
    client = ec2.client(cfg.ec2)
    pool = cfg.ec2.pool
    outcomes = []
    for change in changes:
        if not isinstance(change, RegisterInstance | RetireInstance):
            raise TypeError(f"not a pool change: {change!r}")
        iid, actor = change.instance_id, change.actor
        registering = isinstance(change, RegisterInstance)
        state = ""
        try:
            if registering:
                state = ec2.register(client, iid, pool, cfg.ec2.vpc_ids, cfg.ec2.subnet_ids)
            else:
                ec2.retire(client, iid, pool)
        except ec2.PoolChangeRefused as exc:
            # Said once and forgotten: asking again is a new request.
            kind = "register_refused" if registering else "retire_refused"
            outcomes.append(PoolChangeOutcome(iid, kind, str(exc), actor))
            log.warning("%s: %s", kind, exc)
        except ec2.EC2Unavailable as exc:
            outcomes.append(PoolChangeOutcome(iid, "pool_change_failed", f"{iid}: {exc}", actor))
            log.error("pool change for %s failed: %s", iid, exc)
        else:
            kind, said = (
                ("registered", f"tagged into pool {pool}")
                if registering
                else ("retired", f"taken out of pool {pool}")
            )
            keep = registering and state in {"pending", "running"}
            outcomes.append(PoolChangeOutcome(iid, kind, said, actor, keep_running=keep))
            log.info("instance %s %s", iid, said)
    return tuple(outcomes)


def record_pool_changes(store: Store, outcomes: tuple[PoolChangeOutcome, ...], now: dt.datetime) -> None:
    for out in outcomes:
        if out.failed:
            store.events.add(now, out.kind, out.message, instance_id=out.instance_id)
            continue
        store.requests.close_instance_wish(out.instance_id, out.kind, out.message, now, out.actor)
        if out.keep_running:
            # It stays running for nobody until someone acts (stops it, or a PR needs it), and
            # the pool table says so.
            store.requests.instance_wish(out.instance_id, InstanceWish.RUNNING, now, out.actor)
