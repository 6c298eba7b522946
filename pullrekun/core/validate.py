"""The only gate through which outside data may reach Ansible, a shell or SQL.

PR numbers are positive integers, shas are 40 lowercase hex characters, schema
names and instance ids match strict patterns. Everything else (titles, branch
names, labels) is display text and never crosses this gate.
"""

from __future__ import annotations

import re

SHA_RE = re.compile(r"\A[0-9a-f]{40}\Z")
INSTANCE_ID_RE = re.compile(r"\Ai-[0-9a-f]{8,17}\Z")
SCHEMA_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
POOL_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
#: A GitHub login: letters, digits and single hyphens, at most 39 characters.
LOGIN_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}\Z")
HOST_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9.:-]{0,252}\Z")
MAX_PR_NUMBER = 2**31 - 1


class InvalidInput(ValueError):
    """Outside data that failed validation; the message names the value's role."""


def check_pr_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_PR_NUMBER:
        raise InvalidInput(f"PR number must be a positive integer, got {value!r}")
    return value


def check_sha(value: object) -> str:
    if not isinstance(value, str) or not SHA_RE.match(value):
        raise InvalidInput(f"commit sha must be 40 lowercase hex characters, got {value!r}")
    return value


def check_instance_id(value: object) -> str:
    if not isinstance(value, str) or not INSTANCE_ID_RE.match(value):
        raise InvalidInput(f"EC2 instance id must look like i-0123abcd, got {value!r}")
    return value


def check_schema(value: object) -> str:
    if not isinstance(value, str) or not SCHEMA_RE.match(value):
        raise InvalidInput(f"schema name must match {SCHEMA_RE.pattern} (letters, digits, _), got {value!r}")
    return value


def check_login(value: object) -> str:
    if not isinstance(value, str) or not LOGIN_RE.match(value):
        raise InvalidInput(
            f"a GitHub login is letters, digits and single hyphens (39 at most), got {value!r}"
        )
    return value


def check_host(value: object) -> str:
    if not isinstance(value, str) or not HOST_RE.match(value):
        raise InvalidInput(f"host address must be a plain hostname or IP, got {value!r}")
    return value
