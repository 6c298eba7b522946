"""EC2 tags are claims, not commands: an instance whose pullrekun:* tags break the policy is
refused (never started, stopped, tagged or deployed to) and `status` says why.

moto's EC2 holds one good pool instance and one instance per hostile tag; three PRs are open,
so every instance pullrekun would accept gets work. One hostile tag per key, the VPC limit, and
the case found in review: a developer's own schema named by `pullrekun:db_schema`.
"""

from __future__ import annotations

import json
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun.cli import EXIT_OK
from pullrekun.core import tags as tag
from tests.conftest import run_cli, run_pass, valid_status


def _instance(sb: Sandbox, tags: dict[str, str], **kw: Any) -> str:
    ec2 = sb.ec2()
    res = ec2.run_instances(
        ImageId=sb._image(ec2),
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
        **kw,
    )
    iid = str(res["Instances"][0]["InstanceId"])
    ec2.stop_instances(InstanceIds=[iid])
    return iid


def test_hostile_tags_keep_an_instance_out_of_every_pass(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    good = sb.instance_ids[0]
    pool = {tag.POOL: "default", tag.ANSIBLE_HOST: sb.host_addrs[1]}
    ec2 = sb.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    # A loopback address outside the networks allowed below: never a connection target here.
    stray = "127.0.0.254"
    hostile = {
        _instance(sb, {**pool, tag.ANSIBLE_HOST: stray}): f"pullrekun:ansible_host={stray} is neither",
        _instance(sb, {**pool, tag.URL: "https://evil.example/login"}): "pullrekun:url=https://evil.example",
        _instance(sb, pool, SubnetId=subnet): f"its VPC {vpc} is not in ec2.vpc_ids",
    }
    default_vpc = ec2.describe_instances(InstanceIds=[good])["Reservations"][0]["Instances"][0]["VpcId"]
    # Only the first sandbox host stays a pool member: the others are not needed.
    for iid in sb.instance_ids[1:]:
        ec2.delete_tags(Resources=[iid], Tags=[{"Key": tag.POOL}])
    allowed = [f"{addr}/32" for addr in sb.host_addrs]
    sb.extra_config = {"ec2": {"vpc_ids": [default_vpc], "ansible_host_networks": allowed}}
    sb.write_config()
    for i in range(3):
        sb.open_pr(f"t{i}", f"tags {i}")

    result = run_pass(sb)
    assert [o.instance_id for o in result.outcomes] == [good]
    assert result.ok, result.outcomes
    for iid in hostile:
        assert sb.instance_state(iid) == "stopped", f"{iid} was started"
        assert tag.PR not in sb.instance_tags(iid), f"{iid} was claimed"
    status = run_cli(sb, "status", "--json")
    assert status.returncode == EXIT_OK, status.stderr
    refused = {r["instance_id"]: r["reason"] for r in valid_status(json.loads(status.stdout))["refused"]}
    assert set(refused) == set(hostile)
    for iid, says in hostile.items():
        assert says in refused[iid]
    table = run_cli(sb, "status").stdout
    assert all(f"refused: {iid}: " in table for iid in hostile)
    print(f"hostile tags tried: {len(hostile)} (ansible_host, url, VPC), all refused")


def test_a_schema_tag_never_names_a_source_a_system_or_a_shared_schema(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    ec2 = sb.ec2()
    for iid in sb.instance_ids[1:]:
        ec2.delete_tags(Resources=[iid], Tags=[{"Key": tag.POOL}])
    good = sb.instance_ids[0]
    pool = {tag.POOL: "default", tag.ANSIBLE_HOST: sb.host_addrs[1]}
    twin = "stage_" + good.replace("-", "_")
    hostile = {
        _instance(sb, {**pool, tag.DB_SCHEMA: "dev_bob"}): "pullrekun:db_schema=dev_bob names a source",
        _instance(sb, {**pool, tag.DB_SCHEMA: "mysql"}): "pullrekun:db_schema=mysql names a source or system",
        _instance(sb, {**pool, tag.DB_SCHEMA: "prod_orders"}): "does not have the shape of",
        _instance(sb, {**pool, tag.DB_SCHEMA: twin}): f"its schema {twin} is also {good}'s",
    }
    hostile[good] = f"its schema {twin} is also "
    sb.extra_config = {
        "database": {
            "default_source": "dev_shared",
            "authors": {"bob": "dev_bob"},
            "schema_template": "stage_{instance}",
        }
    }
    sb.write_config()
    sb.open_pr("s", "schemas", author="bob")
    plan = run_cli(sb, "plan", "--json")
    assert plan.returncode == EXIT_OK, plan.stderr
    actions = json.loads(plan.stdout)["actions"]
    assert actions == [], "every instance was refused: nothing may be planned"
    status = valid_status(json.loads(run_cli(sb, "status", "--json").stdout))
    refused = {r["instance_id"]: r["reason"] for r in status["refused"]}
    assert set(refused) == set(hostile)
    for iid, says in hostile.items():
        assert says in refused[iid]
    print(f"hostile schema tags tried: {len(hostile) - 1}, all refused")
