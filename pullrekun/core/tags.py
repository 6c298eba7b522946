"""The EC2 tag keys pullrekun reads and writes: the one list.

Python uses these names; the playbook gets them as the extra var ``pullrekun_tags`` (a dict
from :func:`playbook_vars`), so no tag key is written in a playbook. The dynamic inventory
(``inventory/aws_ec2.yml``) cannot take variables: a test checks every key it names is here.
"""

from __future__ import annotations

PREFIX = "pullrekun:"
#: Pool membership: ``pullrekun:pool=<pool name>`` (written by whoever registers the instance).
POOL = f"{PREFIX}pool"
#: Where Ansible reaches the instance, when not its private address.
ANSIBLE_HOST = f"{PREFIX}ansible_host"
#: The environment's URL, when not the config's url_template.
URL = f"{PREFIX}url"
#: The database schema the instance's environment uses, when not the config's schema_template.
DB_SCHEMA = f"{PREFIX}db_schema"
#: The PR the instance serves (written by pullrekun).
PR = f"{PREFIX}pr"
#: The commit the instance serves (written by pullrekun).
SHA = f"{PREFIX}sha"

#: The client token of the launch that made the instance (written at launch by pullrekun): it
#: makes the instance managed only if pullrekun's own records hold that launch.
LAUNCH = f"{PREFIX}launch"
#: ``true`` on instances pullrekun launched: what the IAM policy's TerminateInstances condition
#: checks. pullrekun itself goes by its launch records, never by this tag alone.
MANAGED = f"{PREFIX}managed"

#: A developer's own server (not a pool member) started and stopped on the named schedule
#: (``[schedules.<name>]``); written by whoever owns the server.
SCHEDULE = f"{PREFIX}schedule"

ALL = (POOL, ANSIBLE_HOST, URL, DB_SCHEMA, PR, SHA, LAUNCH, MANAGED, SCHEDULE)


def playbook_vars() -> dict[str, str]:
    """``pullrekun_tags`` for the playbook: ``{"pr": "pullrekun:pr", ...}``."""
    return {key.removeprefix(PREFIX): key for key in ALL}
