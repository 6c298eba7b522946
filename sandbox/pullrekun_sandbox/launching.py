"""Launching in the sandbox: a launch template in moto's EC2, and a stand-in for the VPC's
address assignment.

moto gives every instance invented 10.x/54.x addresses, which must never be contacted. Here an
instance launched from a launch template gets a free loopback address of the sandbox's as its
``pullrekun:ansible_host`` tag at creation, in the RunInstances answer already, as a VPC gives
a private address. With no address left, the launch is refused as EC2 refuses one without
capacity (``InsufficientInstanceCapacity``): the sandbox's capacity is its addresses.

moto runs in this process (one server per process), so the allocator is patched into its EC2
backend once and points at the current sandbox's addresses.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pullrekun.core import tags as tag

TEMPLATE = "pullrekun-sandbox"
_LOCK = threading.Lock()
#: The current sandbox's launch addresses (None: launches get no address, as before).
_ADDRESSES: list[str] | None = None
_ORIGINAL: Any = None


def _live_hosts(backend: Any) -> set[str]:
    used = set()
    for inst in backend.all_instances():
        if inst.state in ("terminated", "shutting-down"):
            continue
        for t in inst.get_tags():
            if t["key"] == tag.ANSIBLE_HOST:
                used.add(t["value"])
    return used


def _run_instances(
    self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any
) -> Any:
    from moto.ec2.exceptions import EC2ClientError

    if not kwargs.get("launch_template") or _ADDRESSES is None:
        return _ORIGINAL(self, image_id, count, user_data, security_group_names, **kwargs)
    with _LOCK:
        free = [a for a in _ADDRESSES if a not in _live_hosts(self)]
        if len(free) < count:
            raise EC2ClientError(
                "InsufficientInstanceCapacity",
                "There is not enough capacity: the sandbox has no free loopback address left",
            )
        reservation = _ORIGINAL(self, image_id, count, user_data, security_group_names, **kwargs)
        for inst, addr in zip(reservation.instances, free, strict=False):
            inst.add_tags({tag.ANSIBLE_HOST: addr, "Name": f"sandbox-launched-{addr}"})
        return reservation


def install(addresses: Sequence[str]) -> None:
    """Instances launched from a launch template get these addresses, each while it lives."""
    global _ADDRESSES, _ORIGINAL
    from moto.ec2.models.instances import InstanceBackend

    with _LOCK:
        if _ORIGINAL is None:
            _ORIGINAL = InstanceBackend.run_instances
            InstanceBackend.run_instances = _run_instances  # type: ignore[method-assign]
        _ADDRESSES = list(addresses)


def uninstall() -> None:
    """Launches get no address (the sandbox does not launch)."""
    global _ADDRESSES
    with _LOCK:
        _ADDRESSES = None


def create_template(ec2: Any, image: str, name: str = TEMPLATE) -> str:
    """The sandbox's launch template (moto merges its tags with the launch's); returns its id."""
    answer = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": image,
            "InstanceType": "t3.micro",
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "sandbox"}]}
            ],
        },
    )
    return str(answer["LaunchTemplate"]["LaunchTemplateId"])
