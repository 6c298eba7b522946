"""The tag policy: which pool instances pullrekun may act on (pure, no EC2)."""

from __future__ import annotations

import dataclasses

import pytest

from pullrekun.core.model import Instance, InstanceState
from pullrekun.core.tagpolicy import TagPolicy, template_pattern

GOOD = Instance(
    "i-0000000000000000a", InstanceState.STOPPED, "10.0.0.5",
    own_addresses=("10.0.0.5", "54.1.2.3"), vpc_id="vpc-1", subnet_id="subnet-1",
)  # fmt: skip
POLICY = TagPolicy(
    schema_template="stage_{instance}",
    protected_schemas=frozenset({"dev_shared", "dev_bob"}),
    url_hosts=("*.preview.example.com",),
    host_networks=("192.168.0.0/16",),
    vpc_ids=frozenset({"vpc-1"}),
    subnet_ids=frozenset(),
)


def reason(**changes: object) -> str | None:
    inst = dataclasses.replace(GOOD, **changes)  # type: ignore[arg-type]
    accepted, refused = POLICY.screen([inst])
    assert len(accepted) + len(refused) == 1
    return refused[0].reason if refused else None


def test_an_instance_with_ordinary_tags_is_accepted() -> None:
    assert reason() is None
    assert reason(ansible_host="54.1.2.3", host_tagged=True) is None  # its own public address
    assert reason(ansible_host="192.168.7.7", host_tagged=True) is None
    assert reason(url="https://pr-1.preview.example.com/") is None
    assert reason(db_schema="stage_i_0123456789abcdef0") is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"vpc_id": "vpc-prod"}, "its VPC vpc-prod is not in ec2.vpc_ids"),
        ({"ansible_host": "10.9.9.9", "host_tagged": True}, "pullrekun:ansible_host=10.9.9.9 is neither"),
        ({"ansible_host": "evil.example.com", "host_tagged": True}, "is neither the instance's own"),
        ({"url": "https://evil.example.com/login"}, "pullrekun:url=https://evil.example.com/login does not"),
        ({"url": "https://user@pr.preview.example.com/"}, "does not name a host in ec2.url_hosts"),
        ({"url": "javascript:alert(1)"}, "does not name a host"),
        ({"url": "https://x.preview.example.com.evil.io/"}, "does not name a host"),
        ({"db_schema": "mysql"}, "pullrekun:db_schema=mysql names a source or system schema"),
        ({"db_schema": "dev_bob"}, "names a source or system schema"),
        ({"db_schema": "information_schema"}, "names a source or system schema"),
        ({"db_schema": "prod_app"}, "does not have the shape of database.schema_template (stage_{instance})"),
    ],
)
def test_each_hostile_tag_refuses_the_instance_with_its_reason(changes: dict[str, object], says: str) -> None:
    got = reason(**changes)
    assert got is not None
    assert says in got


def test_two_instances_that_would_share_a_schema_are_both_refused() -> None:
    other = dataclasses.replace(
        GOOD, instance_id="i-0000000000000000b", db_schema="stage_i_0000000000000000a"
    )
    third = dataclasses.replace(GOOD, instance_id="i-0000000000000000c")
    accepted, refused = POLICY.screen([other, GOOD, third])
    assert [i.instance_id for i in accepted] == ["i-0000000000000000c"]
    assert [(r.instance_id, r.reason) for r in refused] == [
        ("i-0000000000000000a", "its schema stage_i_0000000000000000a is also i-0000000000000000b's"),
        ("i-0000000000000000b", "its schema stage_i_0000000000000000a is also i-0000000000000000a's"),
    ]


def test_without_a_database_section_schema_tags_are_not_judged() -> None:
    policy = dataclasses.replace(POLICY, schema_template=None)
    accepted, refused = policy.screen([dataclasses.replace(GOOD, db_schema="mysql")])
    assert (len(accepted), refused) == (1, ())


def test_the_template_pattern_matches_only_what_the_template_gives() -> None:
    pattern = template_pattern("pr_{instance}_db")
    assert pattern.match("pr_i_0123456789abcdef0_db")
    assert not pattern.match("pr_i_0123456789abcdef0_db2")
    assert not pattern.match("pr_dev_bob_db")
