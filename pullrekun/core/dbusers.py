"""Each environment's own database user: its name and password, derived from the schema.

An environment's app connects as a user whose rights cover its own schema only, so a pull
request's code cannot read or change another environment's data, nor the developers' source
schemas. The user's name is a hash of the schema's name; its password an HMAC, keyed with one
secret the controller holds (``database.app_password_env``), of the schema's name and the
*nonce* of the schema's current owner: a value the planner picks each time the schema is
cloned for a PR (a hand-over, a reset) and the state DB keeps. So every owner of a schema gets
a password of its own, the previous owner's stops working at the hand-over, and no password is
written on the controller's disk. The playbook computes both (a filter plugin calls these
functions) and the controller's redactor knows the passwords of the schemas it deploys.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re

#: Every environment user's name starts with this (and a DBA can tell them apart).
USER_PREFIX = "pr_"
_HASH_CHARS = 16
#: Bytes of the HMAC kept in the password (32 base64url characters).
_PASSWORD_BYTES = 24
#: A nonce as :func:`owner_nonce` makes it (it crosses into Ansible as a host variable).
NONCE_RE = re.compile(r"\A[0-9]{1,10}\.[0-9]{8}T[0-9]{12}\Z")


def owner_nonce(pr_number: int, now: dt.datetime) -> str:
    """The nonce of a schema's new owner: the PR and the pass's time (unique per clone of a
    schema; unguessable as a password only through the secret's HMAC)."""
    return f"{int(pr_number)}.{now.astimezone(dt.UTC):%Y%m%dT%H%M%S%f}"


def env_user(schema: str) -> str:
    """The environment's user name: ``pr_`` and 16 hex characters of the schema name's SHA-256
    (fits MySQL's 32-character limit whatever the schema's name)."""
    if not schema:
        raise ValueError("an environment user needs a schema name")
    digest = hashlib.sha256(schema.encode("utf-8")).hexdigest()
    return USER_PREFIX + digest[:_HASH_CHARS]


def env_password(secret: str, schema: str, nonce: str = "") -> str:
    """The environment user's password: HMAC-SHA256 of the schema name and its owner's ``nonce``,
    keyed with ``secret``. An empty nonce (a schema cloned before owners had nonces) gives the
    password such schemas had; their next owner gets one."""
    if not secret:
        raise ValueError("environment passwords are derived from a secret, and none is set")
    if not schema:
        raise ValueError("an environment password needs a schema name")
    if nonce and not NONCE_RE.match(nonce):
        raise ValueError(f"an owner nonce looks like 12.20261204T120000000000, got {nonce!r}")
    message = b"pullrekun env user\0" + schema.encode("utf-8")
    if nonce:
        message += b"\0" + nonce.encode("ascii")
    mac = hmac.new(secret.encode("utf-8"), message, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_PASSWORD_BYTES]).decode("ascii")


def grant_pattern(schema: str) -> str:
    """The schema name as a GRANT's database pattern: ``_`` and ``%`` are wildcards there, so a
    grant on ``stage_i_1`` written plainly would also cover ``stageXiX1``."""
    return schema.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
