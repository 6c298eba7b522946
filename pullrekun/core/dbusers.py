"""Each environment's own database user: its name and password, derived from the schema.

An environment's app connects as a user whose rights cover its own schema only, so a pull
request's code cannot read or change another environment's data, nor the developers' source
schemas. Nothing needs to be stored: the user's name is a hash of the schema's name, and its
password an HMAC of the schema's name keyed with one secret the controller holds
(``database.app_password_env``). The playbook computes both (a filter plugin calls these
functions) and the controller's redactor knows the passwords of the schemas it deploys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

#: Every environment user's name starts with this (and a DBA can tell them apart).
USER_PREFIX = "pr_"
_HASH_CHARS = 16
#: Bytes of the HMAC kept in the password (32 base64url characters).
_PASSWORD_BYTES = 24


def env_user(schema: str) -> str:
    """The environment's user name: ``pr_`` and 16 hex characters of the schema name's SHA-256
    (fits MySQL's 32-character limit whatever the schema's name)."""
    if not schema:
        raise ValueError("an environment user needs a schema name")
    digest = hashlib.sha256(schema.encode("utf-8")).hexdigest()
    return USER_PREFIX + digest[:_HASH_CHARS]


def env_password(secret: str, schema: str) -> str:
    """The environment user's password: HMAC-SHA256 of the schema name, keyed with ``secret``."""
    if not secret:
        raise ValueError("environment passwords are derived from a secret, and none is set")
    if not schema:
        raise ValueError("an environment password needs a schema name")
    mac = hmac.new(secret.encode("utf-8"), b"pullrekun env user\0" + schema.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_PASSWORD_BYTES]).decode("ascii")


def grant_pattern(schema: str) -> str:
    """The schema name as a GRANT's database pattern: ``_`` and ``%`` are wildcards there, so a
    grant on ``stage_i_1`` written plainly would also cover ``stageXiX1``."""
    return schema.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
