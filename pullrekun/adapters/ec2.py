"""Observe the pool with boto3, tag an instance into it or out of it when people ask, and
record on an instance which PR and commit it serves.

Starting, stopping and deploying instances is Ansible's job (playbooks/reconcile.yml).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig

from pullrekun.config import EC2Config
from pullrekun.core import tags as tag
from pullrekun.core.fleet import TOKEN_RE
from pullrekun.core.model import Instance, InstanceState
from pullrekun.core.servers import Server
from pullrekun.core.tagpolicy import Refusal
from pullrekun.core.validate import InvalidInput, check_host, check_schema, check_sha

log = logging.getLogger(__name__)


class EC2Unavailable(RuntimeError):
    """The pool could not be read; nothing may be concluded from it this pass."""


def client(cfg: EC2Config) -> Any:
    """The EC2 client for the config's region and endpoint: made once per process and reused
    (boto3 clients are thread-safe; making one costs ~0.1 s of model loading)."""
    return _client(cfg.region, cfg.endpoint_url)


@functools.lru_cache(maxsize=8)
def _client(region: str, endpoint_url: str) -> Any:
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=BotoConfig(
            # Bounded: 3 attempts of at most 5 + 20 s, so an unreachable EC2 ends the pass in about a minute.
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=20,
        ),
    )


@dataclass(frozen=True)
class PoolReading:
    """The pool's instances, and those whose tags could not even be read (with the reason)."""

    instances: tuple[Instance, ...]
    refused: tuple[Refusal, ...] = ()


def instance_from_description(desc: dict[str, Any]) -> Instance | Refusal:
    """One DescribeInstances entry -> Instance, or a Refusal saying which tag is unusable."""
    tags = {t["Key"]: t["Value"] for t in desc.get("Tags", [])}
    iid = desc["InstanceId"]
    private, public = desc.get("PrivateIpAddress") or "", desc.get("PublicIpAddress") or ""
    tagged_host = tags.get(tag.ANSIBLE_HOST, "")
    host = tagged_host or private
    try:
        check_host(host)
        schema = tags.get(tag.DB_SCHEMA, "")
        if schema:
            check_schema(schema)
        tag_pr = int(tags[tag.PR]) if tags.get(tag.PR, "").isdigit() else None
        tag_sha = tags.get(tag.SHA) or None
        if tag_sha is not None:
            try:
                check_sha(tag_sha)
            except InvalidInput:
                tag_sha = "0" * 40  # present but garbled: treat as out of date
        return Instance(
            instance_id=iid,
            state=InstanceState(desc["State"]["Name"]),
            ansible_host=host,
            url=tags.get(tag.URL, ""),
            db_schema=schema,
            tag_pr=tag_pr,
            tag_sha=tag_sha,
            host_tagged=bool(tagged_host),
            own_addresses=tuple(a for a in (private, public) if a),
            vpc_id=desc.get("VpcId") or "",
            subnet_id=desc.get("SubnetId") or "",
            launched_at=launched if isinstance(launched := desc.get("LaunchTime"), dt.datetime) else None,
            # A token no launch of ours could have written is no token: the instance is hand-tagged.
            launch_token=token if TOKEN_RE.match(token := tags.get(tag.LAUNCH, "")) else "",
            instance_type=str(desc.get("InstanceType") or "")[:32],
        )
    except (InvalidInput, ValueError) as exc:
        log.warning("refusing pool instance %s: %s", iid, exc)
        return Refusal(str(iid)[:40], f"unusable tag: {exc}")


def observe_pool(ec2: Any, pool: str) -> PoolReading:
    """Every non-terminated instance tagged ``pullrekun:pool=<pool>``, sorted by id."""
    filters = [
        {"Name": f"tag:{tag.POOL}", "Values": [pool]},
        {
            "Name": "instance-state-name",
            "Values": ["pending", "running", "stopping", "stopped", "shutting-down"],
        },
    ]
    found: list[Instance] = []
    refused: list[Refusal] = []
    try:
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for desc in reservation["Instances"]:
                    inst = instance_from_description(desc)
                    if isinstance(inst, Refusal):
                        refused.append(inst)
                    else:
                        found.append(inst)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EC2Unavailable(f"describe_instances failed: {exc}") from exc
    return PoolReading(
        tuple(sorted(found, key=lambda i: i.instance_id)),
        tuple(sorted(refused, key=lambda r: r.instance_id)),
    )


#: A schedule's name as ``pullrekun:schedule`` may carry it.
SCHEDULE_NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,31}\Z")


def _server(desc: dict[str, Any], vpc_ids: Collection[str], subnet_ids: Collection[str]) -> Server | None:
    """One DescribeInstances entry -> a developer's server, or None: a pool member (the pool's
    rules decide), outside the pool's VPC or subnet limits, or a tag that names no schedule."""
    tags = _tags(desc)
    name = tags.get(tag.SCHEDULE, "")
    if tag.POOL in tags:
        return None
    if (vpc_ids and desc.get("VpcId") not in vpc_ids) or (
        subnet_ids and desc.get("SubnetId") not in subnet_ids
    ):
        return None
    if not SCHEDULE_NAME_RE.match(name):
        log.warning(
            "server %s: %s=%r names no schedule; left alone", desc.get("InstanceId"), tag.SCHEDULE, name
        )
        return None
    try:
        return Server(desc["InstanceId"], desc["State"]["Name"], name, tags.get("Name", "")[:64])
    except InvalidInput as exc:
        log.warning("refusing server %s: %s", str(desc.get("InstanceId"))[:40], exc)
        return None


def observe_servers(
    ec2: Any, vpc_ids: Collection[str] = (), subnet_ids: Collection[str] = ()
) -> tuple[Server, ...]:
    """Every developer's server: tagged ``pullrekun:schedule``, not a pool member, within the
    pool's VPC and subnet limits (if any), sorted by id."""
    filters = [
        {"Name": "tag-key", "Values": [tag.SCHEDULE]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]
    found: list[Server] = []
    try:
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for desc in (d for r in page["Reservations"] for d in r["Instances"]):
                server = _server(desc, vpc_ids, subnet_ids)
                if server is not None:
                    found.append(server)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EC2Unavailable(f"describe_instances failed: {exc}") from exc
    return tuple(sorted(found, key=lambda s: s.instance_id))


class PoolChangeRefused(RuntimeError):
    """A registration or retirement that must not happen (the reason is said to whoever asked)."""


def _describe_one(ec2: Any, instance_id: str) -> dict[str, Any]:
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "").startswith("InvalidInstanceID"):
            raise PoolChangeRefused(f"EC2 knows no instance {instance_id}") from exc
        raise EC2Unavailable(f"describe_instances failed: {exc}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise EC2Unavailable(f"describe_instances failed: {exc}") from exc
    found: list[dict[str, Any]] = [
        d for r in reservations for d in r["Instances"] if d.get("InstanceId") == instance_id
    ]
    if not found:
        raise PoolChangeRefused(f"EC2 knows no instance {instance_id}")
    return found[0]


def _tags(desc: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in desc.get("Tags", [])}


def console_output(ec2: Any, instance_id: str) -> str:
    """The instance's console output (what it printed at its latest boot); "" when EC2 has none
    or cannot say (the caller then learns the host key on first contact)."""
    try:
        answer = ec2.get_console_output(InstanceId=instance_id, Latest=True)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        log.info("no console output for %s: %s", instance_id, exc)
        return ""
    return str(answer.get("Output") or "")


def register(
    ec2: Any,
    instance_id: str,
    pool: str,
    vpc_ids: Collection[str] = (),
    subnet_ids: Collection[str] = (),
) -> str:
    """Tag a live instance into ``pool``; returns its state. Refused if it is gone, already in
    another pool, or outside the VPCs and subnets the pool is limited to (and refused outright
    when it is limited to none: any instance of the account could be pulled in)."""
    if not vpc_ids and not subnet_ids:
        raise PoolChangeRefused(
            "registration needs ec2.vpc_ids or ec2.subnet_ids, so only instances there can join the pool"
        )
    desc = _describe_one(ec2, instance_id)
    state = str(desc.get("State", {}).get("Name", ""))
    if state in {"terminated", "shutting-down"}:
        raise PoolChangeRefused(f"{instance_id} is {state}")
    if vpc_ids and desc.get("VpcId") not in vpc_ids:
        raise PoolChangeRefused(f"{instance_id} is in VPC {desc.get('VpcId')!r}, not in ec2.vpc_ids")
    if subnet_ids and desc.get("SubnetId") not in subnet_ids:
        raise PoolChangeRefused(f"{instance_id} is in subnet {desc.get('SubnetId')!r}, not in ec2.subnet_ids")
    current = _tags(desc).get(tag.POOL)
    if current not in (None, pool):
        raise PoolChangeRefused(f"{instance_id} belongs to pool {current!r}")
    try:
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": tag.POOL, "Value": pool}])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EC2Unavailable(f"create_tags failed: {exc}") from exc
    return state


def tag_served(ec2: Any, instance_id: str, pr_number: int, sha: str) -> None:
    """Write the instance's ``pullrekun:pr`` and ``pullrekun:sha`` tags (one CreateTags call)."""
    check_sha(sha)
    values = {tag.PR: str(pr_number), tag.SHA: sha}
    try:
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in values.items()])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EC2Unavailable(f"create_tags failed: {exc}") from exc


def clear_served(ec2: Any, instance_ids: list[str]) -> None:
    """Remove the ``pullrekun:pr`` and ``pullrekun:sha`` tags of the instances (one DeleteTags call)."""
    try:
        ec2.delete_tags(Resources=instance_ids, Tags=[{"Key": tag.PR}, {"Key": tag.SHA}])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EC2Unavailable(f"delete_tags failed: {exc}") from exc


def retire(ec2: Any, instance_id: str, pool: str) -> None:
    """Take a stopped instance of ``pool`` out of it (its pool, PR and commit tags)."""
    desc = _describe_one(ec2, instance_id)
    if _tags(desc).get(tag.POOL) != pool:
        raise PoolChangeRefused(f"{instance_id} is not in pool {pool!r}")
    state = desc.get("State", {}).get("Name", "")
    if state != "stopped":
        raise PoolChangeRefused(f"{instance_id} is {state}, not stopped")
    try:
        ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": k} for k in (tag.POOL, tag.PR, tag.SHA)])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EC2Unavailable(f"delete_tags failed: {exc}") from exc
