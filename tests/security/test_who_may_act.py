"""Who may act and look, and what *Register* may pull into the pool.

As attackers would: a GitHub triager (who ranks below approving a fork) tries to act; anyone on
a public repository (where everyone may read) tries to look; someone who may act registers an
instance of another VPC, or any instance of the account where the pool is not limited; a
running instance someone works on is registered and must not be stopped by the next pass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.core import tags as tag
from pullrekun.core.model import InstanceWish
from pullrekun.web.actions import Actions
from pullrekun.web.auth import Role
from pullrekun.web.oauth import RepoAccess
from tests.conftest import run_pass, status_of

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def store(sandbox_store: Store) -> Store:
    return sandbox_store


def _access(sb: Sandbox, store: Store, **serve: Any) -> RepoAccess:
    cfg = config_mod.load(sb.config_path)
    cfg = dataclasses.replace(cfg, serve=dataclasses.replace(cfg.serve, **serve))
    return RepoAccess(cfg, store.github_facts, 0)


def test_triage_may_look_but_not_act_unless_the_operator_says_so(
    local_sandbox: Sandbox, store: Store
) -> None:
    sb = local_sandbox
    assert _access(sb, store).role("triager") is Role.VIEWER
    assert _access(sb, store).role("maintainer") is Role.ADMIN
    widened = _access(sb, store, acting_permissions=("triage", "write", "maintain", "admin"))
    assert widened.role("triager") is Role.ADMIN
    narrowed = _access(sb, store, acting_permissions=("admin",))
    assert narrowed.role("maintainer") is Role.VIEWER
    assert narrowed.role("acme") is Role.ADMIN


def test_on_a_public_repository_reading_it_is_not_enough_to_look(
    local_sandbox: Sandbox, store: Store
) -> None:
    sb = local_sandbox
    sb.github.roles["anyone"] = "read"
    assert _access(sb, store).role("anyone") is Role.VIEWER, "a private repository's reader may look"
    sb.github.private = False
    assert _access(sb, store).role("anyone") is None, "on a public one, anybody is a reader"
    assert _access(sb, store).role("triager") is Role.VIEWER
    assert _access(sb, store, viewers_github=("Anyone",)).role("anyone") is Role.VIEWER


def test_registration_is_refused_where_the_pool_is_not_limited(local_sandbox: Sandbox, store: Store) -> None:
    sb = local_sandbox
    cfg = config_mod.load(sb.config_path)
    unlimited = dataclasses.replace(cfg, ec2=dataclasses.replace(cfg.ec2, vpc_ids=(), subnet_ids=()))
    outside = sb.add_instance(sb.host_addrs[-1], pool=None)
    answer = Actions(unlimited, store, _NoPokes(), lambda: {}).register(outside, "github:mallory")
    assert answer.status == 409
    assert "set ec2.vpc_ids or ec2.subnet_ids" in answer.message
    assert store.requests.instance_wishes() == ()


def test_an_instance_outside_the_pools_vpc_is_not_registered(local_sandbox: Sandbox, store: Store) -> None:
    sb = local_sandbox
    ec2 = sb.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    foreign = ec2.run_instances(
        ImageId=sb._image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet
    )["Instances"][0]["InstanceId"]
    store.requests.instance_wish(foreign, InstanceWish.REGISTER, NOW, "github:mallory")
    assert run_pass(sb).ok
    assert tag.POOL not in sb.instance_tags(foreign)
    (refused,) = [e for e in store.events.recent(limit=20) if e.kind == "register_refused"]
    assert f"is in VPC {vpc!r}, not in ec2.vpc_ids" in refused.message
    assert refused.actor == "github:mallory"


def test_a_running_instance_registered_keeps_running_for_nobody(local_sandbox: Sandbox, store: Store) -> None:
    sb = local_sandbox
    busy = sb.add_instance(sb.host_addrs[-1], pool=None)  # running: someone works on it
    store.requests.instance_wish(busy, InstanceWish.REGISTER, NOW, "local:ada")
    assert run_pass(sb).ok
    assert sb.instance_tags(busy)[tag.POOL] == "default"
    for _ in range(2):
        assert run_pass(sb).ok
        assert sb.instance_state(busy) == "running", "a registered instance that ran is not stopped"
    (row,) = [i for i in status_of(sb)["instances"] if i["instance_id"] == busy]
    assert row["pr"] is None
    (wish,) = store.requests.instance_wishes()
    assert (wish.instance_id, wish.wish, wish.actor) == (busy, InstanceWish.RUNNING, "local:ada")


class _NoPokes:
    def poke(self, reason: str) -> None:
        raise AssertionError("a refused request pokes no pass")
