"""People's requests for pool instances, carried out by real passes (moto EC2, local hosts).

What the dashboard and the API record (pullrekun.web.actions) is decided by the planner and
done by the next pass: a free instance kept running, then let stop; an instance registered
into the pool, an unknown one refused; an instance holding an environment retired (its PR
moves to another instance, it is stopped, then untagged).
"""

from __future__ import annotations

import datetime as dt

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun.adapters.state.store import Store
from pullrekun.core import tags as tag
from pullrekun.core.model import InstanceWish
from tests.conftest import run_pass, status_of

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def store(sandbox_store: Store) -> Store:
    return sandbox_store


def passes_clean(sb: Sandbox, n: int = 1) -> None:
    for _ in range(n):
        result = run_pass(sb)
        assert result.ok, (result.problem, result.outcomes)


def kinds(store: Store) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind, e.instance_id, e.actor) for e in store.events.recent(limit=50)]


def test_a_free_instance_kept_running_on_request_stays_up_until_let_stop(
    local_sandbox: Sandbox, store: Store
) -> None:
    sb = local_sandbox
    free = sb.instance_ids[0]
    store.requests.instance_wish(free, InstanceWish.RUNNING, NOW, "local:ada")
    passes_clean(sb, 2)
    assert sb.instance_state(free) == "running", "started, and not stopped by the next pass"
    (shown,) = [i for i in status_of(sb)["instances"] if i["instance_id"] == free]
    assert (shown["wish"], shown["wished_by"]) == ("running", "local:ada")
    assert all(sb.instance_state(i) == "stopped" for i in sb.instance_ids[1:])
    store.requests.instance_wish(free, None, NOW, "local:ada")
    passes_clean(sb)
    assert sb.instance_state(free) == "stopping" or sb.instance_state(free) == "stopped"
    assert ("stop_requested", free, "local:ada") in kinds(store)


def test_registration_tags_an_instance_into_the_pool_once_and_refuses_unknown_ones(
    local_sandbox: Sandbox, store: Store
) -> None:
    sb = local_sandbox
    outside = sb.add_instance(sb.host_addrs[-1], pool=None)
    sb.ec2().stop_instances(InstanceIds=[outside])
    other_pool = sb.add_instance(sb.host_addrs[-1], pool="other")
    gone = sb.add_instance(sb.host_addrs[-1], pool=None)
    sb.ec2().terminate_instances(InstanceIds=[gone])
    for iid in (other_pool, gone):
        store.requests.instance_wish(iid, InstanceWish.REGISTER, NOW, "github:ann")
    store.requests.instance_wish(outside, InstanceWish.REGISTER, NOW, "github:ann")
    store.requests.instance_wish("i-0000000000000dead", InstanceWish.REGISTER, NOW, "github:ann")
    assert sorted(status_of(sb)["registering"]) == sorted(["i-0000000000000dead", outside, other_pool, gone])
    passes_clean(sb)
    assert sb.instance_tags(outside)[tag.POOL] == "default"
    assert ("registered", outside, "github:ann") in kinds(store)
    refused = {e.instance_id: e for e in store.events.recent(limit=50) if e.kind == "register_refused"}
    assert set(refused) == {"i-0000000000000dead", other_pool, gone}
    assert {e.actor for e in refused.values()} == {"github:ann"}
    assert "EC2 knows no instance" in refused["i-0000000000000dead"].message
    assert "belongs to pool 'other'" in refused[other_pool].message
    assert "is terminated" in refused[gone].message
    assert sb.instance_tags(other_pool)[tag.POOL] == "other"
    assert store.requests.instance_wishes() == ()
    passes_clean(sb)
    assert outside in {i["instance_id"] for i in status_of(sb)["instances"]}
    assert status_of(sb)["registering"] == []


def test_retiring_a_held_instance_moves_its_pr_then_takes_the_instance_out(
    local_sandbox: Sandbox, store: Store
) -> None:
    sb = local_sandbox
    pr, head = sb.open_pr("retire", "on an instance that retires")
    passes_clean(sb)
    (env,) = status_of(sb)["environments"]
    held = env["instance_id"]
    store.requests.instance_wish(held, InstanceWish.RETIRE, NOW, "local:ada")
    passes_clean(sb)
    (env,) = status_of(sb)["environments"]
    assert env["instance_id"] != held, "the PR moved to another instance"
    assert env["status"] == "ready"
    assert sb.served(sb.addr_of(env["instance_id"])) == head
    assert sb.instance_state(held) in {"stopping", "stopped"}
    assert sb.instance_tags(held)[tag.POOL] == "default", "still in the pool until seen stopped"
    passes_clean(sb)
    assert tag.POOL not in sb.instance_tags(held)
    assert held not in {i["instance_id"] for i in status_of(sb)["instances"]}
    assert ("retired", held, "local:ada") in kinds(store)
    assert store.requests.instance_wishes() == ()
    assert pr == env["pr"]


def test_a_registered_instance_still_faces_the_tag_policy(local_sandbox: Sandbox, store: Store) -> None:
    """Registration only writes the pool tag: an instance whose other tags break the policy (here
    an ansible_host outside its own addresses and the allowed networks) is refused, not used."""
    sb = local_sandbox
    hostile = sb.add_instance("192.0.2.10", pool=None)
    sb.ec2().stop_instances(InstanceIds=[hostile])
    store.requests.instance_wish(hostile, InstanceWish.REGISTER, NOW, "local:ada")
    passes_clean(sb)
    assert sb.instance_tags(hostile)[tag.POOL] == "default"
    status = status_of(sb)
    assert hostile not in {i["instance_id"] for i in status["instances"]}
    assert hostile in {r["instance_id"] for r in status["refused"]}
