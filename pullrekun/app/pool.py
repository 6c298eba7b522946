"""The pool as pullrekun may use it: EC2's description, screened by the tag policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from pullrekun.adapters import ec2
from pullrekun.config import Config
from pullrekun.core.model import Instance
from pullrekun.core.servers import Server
from pullrekun.core.tagpolicy import Refusal, TagPolicy


@dataclass(frozen=True)
class Pool:
    #: The instances pullrekun may act on, sorted by id.
    instances: tuple[Instance, ...]
    #: Instances tagged into the pool that it refuses, with the reason (``status`` shows them).
    refused: tuple[Refusal, ...] = ()
    #: Developers' servers on a schedule (read only with ``[schedules]``).
    servers: tuple[Server, ...] = ()

    def by_id(self) -> dict[str, Instance]:
        return {i.instance_id: i for i in self.instances}


def tag_policy(cfg: Config, edited: Mapping[str, str]) -> TagPolicy:
    """The config's tag policy; the sources the dashboard's edits name (those the source rule
    allows) are protected too: never an environment's schema."""
    policy = cfg.tag_policy
    allowed = {schema for schema in edited.values() if cfg.source_rule.problem(schema) is None}
    if not allowed:
        return policy
    return dataclasses.replace(policy, protected_schemas=policy.protected_schemas | allowed)


def read_pool(cfg: Config, edited: Mapping[str, str] | None = None) -> Pool:
    """Raises ``ec2.EC2Unavailable`` when EC2 cannot be read. ``edited``: the dashboard's edits
    of the developer -> schema table."""
    client = ec2.client(cfg.ec2)
    reading = ec2.observe_pool(client, cfg.ec2.pool)
    accepted, refused = tag_policy(cfg, edited or {}).screen(reading.instances)
    servers = ec2.observe_servers(client, cfg.ec2.vpc_ids, cfg.ec2.subnet_ids) if cfg.schedules else ()
    return Pool(accepted, tuple(sorted((*reading.refused, *refused), key=lambda r: r.instance_id)), servers)
