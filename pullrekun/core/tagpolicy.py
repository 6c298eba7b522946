"""Which pool instances pullrekun may act on, judged by their EC2 tags. Pure: no I/O.

Anyone who can tag an instance can write ``pullrekun:*`` tags, so a tag is a claim, not a
command. An instance whose tags break the policy is refused: it stays out of the plan (never
started, stopped, deployed to or dropped) and ``status`` says why.

- Pool membership may be limited to VPCs and subnets (``ec2.vpc_ids``, ``ec2.subnet_ids``):
  a ``pullrekun:pool`` tag on a production instance elsewhere does not pull it in.
- ``pullrekun:ansible_host`` may name the instance's own private or public address, or one in
  ``ec2.ansible_host_networks``: it cannot send SSH (and the database password) elsewhere.
- ``pullrekun:url`` counts only if its host matches ``ec2.url_hosts``: "View deployment" on a
  PR cannot be pointed anywhere.
- ``pullrekun:db_schema`` must have the shape of the schema template, must not name a source
  schema or a system schema, and no two instances may end up with the same schema: a clone
  replaces its target, and ``on_close = "drop"`` drops it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pullrekun.core import tags
from pullrekun.core.model import Instance

#: Schemas no environment may ever be cloned into.
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
_URL_RE = re.compile(r"\Ahttps?://(?P<host>[A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:[/?#][^\s]*)?\Z")


@dataclass(frozen=True)
class Refusal:
    instance_id: str
    reason: str


def template_pattern(template: str) -> re.Pattern[str]:
    """The schema names a ``{instance}`` template can give (``stage_{instance}`` -> ``stage_<id>``)."""
    before, _, after = template.partition("{instance}")
    return re.compile(rf"\A{re.escape(before)}i_[0-9a-f]{{8,17}}{re.escape(after)}\Z")


@dataclass(frozen=True)
class TagPolicy:
    #: The schema template of ``[database]``; None without per-environment databases.
    schema_template: str | None = None
    #: Source schemas (the default, the authors', the allowed ones): never a clone's target.
    protected_schemas: frozenset[str] = frozenset()
    url_hosts: tuple[str, ...] = ()
    host_networks: tuple[str, ...] = ()
    vpc_ids: frozenset[str] = frozenset()
    subnet_ids: frozenset[str] = frozenset()

    def target_for(self, inst: Instance) -> str:
        assert self.schema_template is not None
        return inst.db_schema or self.schema_template.format(instance=inst.instance_id.replace("-", "_"))

    def screen(self, instances: Iterable[Instance]) -> tuple[tuple[Instance, ...], tuple[Refusal, ...]]:
        """(instances pullrekun may use, refused ones with the reason), both sorted by id."""
        accepted: list[Instance] = []
        refused: list[Refusal] = []
        for inst in sorted(instances, key=lambda i: i.instance_id):
            reason = self._refusal(inst)
            if reason is None:
                accepted.append(inst)
            else:
                refused.append(Refusal(inst.instance_id, reason))
        if self.schema_template is not None:
            targets = Counter(self.target_for(i) for i in accepted)
            shared = [i for i in accepted if targets[self.target_for(i)] > 1]
            for inst in shared:
                others = sorted(
                    o.instance_id
                    for o in shared
                    if o is not inst and self.target_for(o) == self.target_for(inst)
                )
                refused.append(
                    Refusal(
                        inst.instance_id, f"its schema {self.target_for(inst)} is also {', '.join(others)}'s"
                    )
                )
            accepted = [i for i in accepted if i not in shared]
        return tuple(accepted), tuple(sorted(refused, key=lambda r: r.instance_id))

    def _refusal(self, inst: Instance) -> str | None:
        if self.vpc_ids and inst.vpc_id not in self.vpc_ids:
            return f"its VPC {inst.vpc_id or '(none)'} is not in ec2.vpc_ids"
        if self.subnet_ids and inst.subnet_id not in self.subnet_ids:
            return f"its subnet {inst.subnet_id or '(none)'} is not in ec2.subnet_ids"
        if inst.host_tagged and not self._host_allowed(inst):
            return (
                f"{tags.ANSIBLE_HOST}={inst.ansible_host} is neither the instance's own address nor in "
                "ec2.ansible_host_networks"
            )
        if inst.url and not self._url_allowed(inst.url):
            return f"{tags.URL}={inst.url[:200]} does not name a host in ec2.url_hosts"
        if inst.db_schema and self.schema_template is not None:
            if inst.db_schema.lower() in SYSTEM_SCHEMAS or inst.db_schema in self.protected_schemas:
                return f"{tags.DB_SCHEMA}={inst.db_schema} names a source or system schema"
            if not template_pattern(self.schema_template).match(inst.db_schema):
                return (
                    f"{tags.DB_SCHEMA}={inst.db_schema} does not have the shape of "
                    f"database.schema_template ({self.schema_template})"
                )
        return None

    def _host_allowed(self, inst: Instance) -> bool:
        if inst.ansible_host in inst.own_addresses:
            return True
        try:
            address = ipaddress.ip_address(inst.ansible_host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net, strict=False) for net in self.host_networks)

    def _url_allowed(self, url: str) -> bool:
        match = _URL_RE.match(url)
        if match is None:
            return False
        host = match["host"].lower()
        return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.url_hosts)
