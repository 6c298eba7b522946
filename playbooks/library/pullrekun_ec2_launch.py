#!/usr/bin/python
"""Ansible module: launch one instance from a launch template, exactly once per client token."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pullrekun_ec2_launch
short_description: Launch one EC2 instance from a launch template, once per client token.
description:
  - Runs on the pullrekun controller (C(delegate_to: localhost) or a local host) with boto3.
  - Looks for a live instance tagged C(pullrekun:launch=<token>) first and returns it when there
    is one (C(changed=false)); otherwise calls C(RunInstances) with the launch template, one
    instance, I(token) as its C(ClientToken) and the tags at creation. A call retried after a lost
    answer gets the same instance from EC2 (the client token), and a pass that died after the
    call finds it by its tag.
  - C(amazon.aws.ec2_instance) is not used for this - it sends a random client token of its own
    each call, so only a describe (which EC2's eventual consistency can miss for a moment right
    after a launch) stands between a retry and a second instance.
  - Check mode says whether a launch would be made, and makes none.
options:
  token:
    description: The launch's client token (C(prk-) and 32 hex digits), recorded before the call.
    type: str
    required: true
  launch_template:
    description: The launch template's name, or its id (C(lt-...)).
    type: str
    required: true
  launch_template_version:
    description: C($Default), C($Latest) or a version number.
    type: str
    default: $Default
  tags:
    description: Tags the instance gets at creation (besides the launch template's own).
    type: dict
    default: {}
  token_tag:
    description: The tag key holding the token.
    type: str
    default: pullrekun:launch
  region:
    type: str
    required: true
    description: The EC2 region.
  endpoint_url:
    type: str
    default: ""
    description: An EC2-compatible endpoint (empty - AWS).
"""

RETURN = r"""
instance_id:
  description: The instance the launch made (or had made).
  type: str
  returned: success
state:
  description: Its EC2 state when the module looked.
  type: str
  returned: success
"""

import re

from ansible.module_utils.basic import AnsibleModule

try:
    import boto3
    import botocore.exceptions
except ImportError:  # pragma: no cover - the controller's Python has boto3 (pullrekun needs it)
    boto3 = None

TOKEN_RE = re.compile(r"\Aprk-[0-9a-f]{32}\Z")
LIVE = ["pending", "running", "stopping", "stopped"]


def _found(ec2, token_tag, token):
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:" + token_tag, "Values": [token]},
            {"Name": "instance-state-name", "Values": LIVE},
        ]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _template(name):
    return (
        {"LaunchTemplateId": name}
        if re.match(r"\Alt-[0-9a-f]{8,17}\Z", name)
        else {"LaunchTemplateName": name}
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "token": {"type": "str", "required": True},
            "launch_template": {"type": "str", "required": True},
            "launch_template_version": {"type": "str", "default": "$Default"},
            "tags": {"type": "dict", "default": {}},
            "token_tag": {"type": "str", "default": "pullrekun:launch"},
            "region": {"type": "str", "required": True},
            "endpoint_url": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    if boto3 is None:
        module.fail_json(msg="boto3 is missing from the controller's Python")
    if not TOKEN_RE.match(p["token"]):
        module.fail_json(msg="token must be prk- and 32 hex digits")
    ec2 = boto3.client("ec2", region_name=p["region"], endpoint_url=p["endpoint_url"] or None)
    try:
        found = _found(ec2, p["token_tag"], p["token"])
        if found:
            inst = sorted(found, key=lambda i: i["InstanceId"])[0]
            module.exit_json(changed=False, instance_id=inst["InstanceId"], state=inst["State"]["Name"])
        if module.check_mode:
            module.exit_json(changed=True, instance_id="", state="")
        tags = [{"Key": str(k), "Value": str(v)} for k, v in sorted(p["tags"].items())]
        tags.append({"Key": p["token_tag"], "Value": p["token"]})
        answer = ec2.run_instances(
            LaunchTemplate={**_template(p["launch_template"]), "Version": p["launch_template_version"]},
            MinCount=1,
            MaxCount=1,
            ClientToken=p["token"],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", exc)
        module.fail_json(msg=f"EC2 refused the launch: {code}: {message}")
    except botocore.exceptions.BotoCoreError as exc:
        module.fail_json(msg=f"EC2 could not be reached: {exc}")
    inst = answer["Instances"][0]
    module.exit_json(changed=True, instance_id=inst["InstanceId"], state=inst["State"]["Name"])


if __name__ == "__main__":
    main()
