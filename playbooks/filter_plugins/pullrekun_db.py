"""Filters for each environment's own database user (pullrekun.core.dbusers does the work).

{{ staging_db_name | pullrekun_env_user }}                      -> pr_<16 hex>
{{ secret | pullrekun_env_password(staging_db_name, nonce) }}   -> its password (for that owner)
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from pullrekun.core.dbusers import env_password, env_user
except ImportError as exc:  # pragma: no cover - pullrekun runs its playbooks with its own Python
    raise AnsibleFilterError(f"pullrekun must be importable by the controller's Python: {exc}") from exc


def pullrekun_env_user(schema: str) -> str:
    try:
        return env_user(str(schema))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def pullrekun_env_password(secret: str, schema: str, nonce: str = "") -> str:
    try:
        return env_password(str(secret), str(schema), str(nonce or ""))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"pullrekun_env_user": pullrekun_env_user, "pullrekun_env_password": pullrekun_env_password}
