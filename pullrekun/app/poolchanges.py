"""Registrations and retirements people asked for, carried out by a pass (never by the page).

The planner decides them from what it observes (a retired instance is seen stopped and free
first); here each is done, said in the activity log with who asked, and its wish forgotten. A
crash between the tag write and the forgetting is harmless: the next pass sees the instance in
(or out of) the pool and the planner forgets the wish then.
"""

from __future__ import annotations

import datetime as dt
import logging

from pullrekun.adapters import ec2
from pullrekun.adapters.state.store import Store
from pullrekun.config import Config
from pullrekun.core.model import InstanceWish, Plan, RegisterInstance, RetireInstance

log = logging.getLogger(__name__)


def apply_pool_changes(cfg: Config, store: Store, plan: Plan, now: dt.datetime) -> None:
    changes: list[RegisterInstance | RetireInstance] = [
        *plan.of_type(RegisterInstance),
        *plan.of_type(RetireInstance),
    ]
    if not changes:
        return
    client = ec2.client(cfg.ec2)
    pool = cfg.ec2.pool
    for change in changes:
        iid = change.instance_id
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
            store.close_instance_request(iid, kind, str(exc), now, change.actor)
            log.warning("%s: %s", kind, exc)
        except ec2.EC2Unavailable as exc:
            # EC2 did not answer: the wish stays, the next pass tries again.
            store.add_event(now, "pool_change_failed", f"{iid}: {exc}", instance_id=iid)
            log.error("pool change for %s failed: %s", iid, exc)
        else:
            kind, said = (
                ("registered", f"tagged into pool {pool}")
                if registering
                else ("retired", f"taken out of pool {pool}")
            )
            store.close_instance_request(iid, kind, said, now, change.actor)
            log.info("instance %s %s", iid, said)
            if registering and state in {"pending", "running"}:
                # Someone may be working on it: it stays running for nobody until someone acts
                # (stops it, or a PR needs it), and the pool table says so.
                store.request_instance(iid, InstanceWish.RUNNING, now, change.actor)
