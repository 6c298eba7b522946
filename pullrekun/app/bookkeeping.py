"""The instances' records of what they serve (``pullrekun:pr``, ``pullrekun:sha``), written and
cleared by the pass after the playbook run: bookkeeping, not an action, so it costs a deploy or
a stop no module process and no time before the host is served.

A deploy's tags are written only if it succeeded; a tag the planner finds missing on an
environment that serves its PR's head is written without a deploy. Each instance takes one
CreateTags call, made side by side. A stopped instance's tags are cleared only if its stop
succeeded, those of all such instances in one DeleteTags call. A write that fails is logged and
said in the activity log; nothing is undone for it, and the next pass sees the tags wrong and
writes or clears them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from pullrekun.adapters import ec2
from pullrekun.config import Config
from pullrekun.core.model import Action, TagInstance, UntagInstance

log = logging.getLogger(__name__)

#: Tag writes in flight at once, at most.
WRITERS = 8


def write_tags(
    cfg: Config, actions: tuple[Action, ...], deployed: frozenset[str], stopped: frozenset[str]
) -> dict[str, str]:
    """Write each TagInstance whose deploy (if it had one this pass) succeeded (``deployed`` holds
    those instances), and clear the tags of each UntagInstance whose stop (if it had one)
    succeeded (``stopped``). Returns the writes that failed (instance id -> why)."""
    todo = [
        a for a in actions if isinstance(a, TagInstance) and (not a.deployed or a.instance_id in deployed)
    ]
    clear = sorted(
        {
            a.instance_id
            for a in actions
            if isinstance(a, UntagInstance) and (not a.after_stop or a.instance_id in stopped)
        }
    )
    if not todo and not clear:
        return {}
    client = ec2.client(cfg.ec2)

    def write(t: TagInstance) -> tuple[str, str]:
        try:
            ec2.tag_served(client, t.instance_id, t.pr_number, t.sha)
        except ec2.EC2Unavailable as exc:
            log.warning("the tags of %s were not written (the next pass writes them): %s", t.instance_id, exc)
            return t.instance_id, str(exc)
        return t.instance_id, ""

    failed: dict[str, str] = {}
    if clear:
        try:
            ec2.clear_served(client, clear)
        except ec2.EC2Unavailable as exc:
            log.warning(
                "the tags of %s were not cleared (the next pass clears them): %s", ", ".join(clear), exc
            )
            failed.update(dict.fromkeys(clear, str(exc)))
    if todo:
        with ThreadPoolExecutor(max_workers=min(WRITERS, len(todo)), thread_name_prefix="tags") as pool:
            failed.update({iid: problem for iid, problem in pool.map(write, todo) if problem})
    return failed
