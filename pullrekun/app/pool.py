"""The pool as pullrekun may use it: EC2's description, screened by the tag policy."""

from __future__ import annotations

from dataclasses import dataclass

from pullrekun.adapters import ec2
from pullrekun.config import Config
from pullrekun.core.model import Instance
from pullrekun.core.tagpolicy import Refusal


@dataclass(frozen=True)
class Pool:
    #: The instances pullrekun may act on, sorted by id.
    instances: tuple[Instance, ...]
    #: Instances tagged into the pool that it refuses, with the reason (``status`` shows them).
    refused: tuple[Refusal, ...] = ()

    def by_id(self) -> dict[str, Instance]:
        return {i.instance_id: i for i in self.instances}


def read_pool(cfg: Config) -> Pool:
    """Raises ``ec2.EC2Unavailable`` when EC2 cannot be read."""
    reading = ec2.observe_pool(ec2.client(cfg.ec2), cfg.ec2.pool)
    accepted, refused = cfg.tag_policy.screen(reading.instances)
    return Pool(accepted, tuple(sorted((*reading.refused, *refused), key=lambda r: r.instance_id)))
