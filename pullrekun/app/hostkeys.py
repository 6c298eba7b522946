"""First contact with a staging host: its key checked against what the instance printed at boot.

cloud-init prints an instance's SSH host keys on its console as it boots, where only EC2 (and
whoever may call GetConsoleOutput) can read them. Before a pass contacts an instance whose key
it does not know yet, the keys are read from there and pinned; ssh then refuses a host that
shows any other key (someone in between, a reused address). Where the console has no keys
(no cloud-init, or not booted yet), the key is accepted on first contact, and ``status`` says
which of the two each instance's key was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pullrekun.adapters import ec2
from pullrekun.adapters.known_hosts import console_keys, known_hosts_file, learned, pin
from pullrekun.config import Config
from pullrekun.core.model import UP_STATES, Deploy, Instance, Plan, StopInstance

log = logging.getLogger(__name__)


def pin_console_keys(cfg: Config, plan: Plan, instances: Mapping[str, Instance]) -> tuple[str, ...]:
    """Pin the console's host keys of every instance this plan contacts for the first time;
    returns the instances whose keys were pinned."""
    if cfg.ansible.connection != "ssh":
        return ()
    contacted = {d.instance_id for d in plan.of_type(Deploy)}
    contacted |= {
        s.instance_id for s in plan.of_type(StopInstance) if instances[s.instance_id].state in UP_STATES
    }
    path = known_hosts_file(cfg)
    new = sorted(contacted - learned(path).keys())
    if not new:
        return ()
    client = ec2.client(cfg.ec2)
    pinned = []
    for iid in new:
        keys = console_keys(ec2.console_output(client, iid))
        if keys:
            pin(path, iid, keys)
            pinned.append(iid)
        else:
            log.info("%s printed no host keys on its console: its key is accepted on first contact", iid)
    return tuple(pinned)
