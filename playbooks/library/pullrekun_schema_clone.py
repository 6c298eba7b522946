#!/usr/bin/python
"""Ansible module: replace a MySQL/MariaDB schema with a verified copy of another."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pullrekun_schema_clone
short_description: Replace a schema with a verified copy of another (pullrekun's environment databases).
description:
  - Runs on the pullrekun controller (C(delegate_to: localhost)) under the Python that has
    pullrekun installed; the work is done by C(pullrekun.adapters.schema_clone).
  - On the same server the copy is server-side (C(SHOW CREATE TABLE), C(INSERT ... SELECT),
    tables in parallel); from another server it is a streamed C(mariadb-dump | mariadb).
  - The copy is built under C(<target>__prk_new), checked with C(CHECKSUM TABLE), and swapped
    in with one C(RENAME TABLE); a failed clone leaves the target as it was.
  - With I(user_name), the environment's own account is kept too - every right on I(target),
    none elsewhere - and cloned triggers, views and routines get it as their definer.
  - Always reports C(changed) when it clones (a clone replaces the target's data); in check
    mode it only validates the names and that the source exists.
options:
  state:
    description:
      - C(present) replaces I(target) with a copy of I(source); C(absent) drops I(target) (and the
        user I(user_name)); C(user) only ensures the user I(user_name) of I(target); C(diff) reads
        what I(target) changed against I(source) (structure only) into C(schema_changes).
    type: str
    choices: [present, absent, user, diff]
    default: present
  user_name:
    description: The environment's database user (empty - none; the objects' definer is then the login user).
    type: str
    default: ""
  user_host:
    description: Host part of the environment's user.
    type: str
    default: "%"
  user_password:
    description: The environment user's password (never logged).
    type: str
    default: ""
  source:
    description: Schema to copy (letters, digits, underscore); required when I(state=present).
    type: str
    default: ""
  target:
    description: Schema to replace.
    type: str
    required: true
  login_host:
    description: Server of the target (and of the source unless I(source_host) is set).
    type: str
    default: 127.0.0.1
  login_port:
    type: int
    default: 3306
    description: Port of the target server.
  login_unix_socket:
    type: str
    default: ""
    description: Unix socket of the target server (instead of host and port).
  login_user:
    type: str
    required: true
    description: User with rights to create and drop the schemas involved.
  login_password:
    type: str
    default: ""
    no_log: true
    description: Its password (never logged; passed to dump tools through a 0600 option file).
  source_host:
    type: str
    default: ""
    description: Server of the source when it is another server (then a streamed dump is used).
  source_port:
    type: int
    default: 3306
    description: Port of the source server.
  source_user:
    type: str
    default: ""
    description: User on the source server (default I(login_user)).
  source_password:
    type: str
    default: ""
    no_log: true
    description: Password on the source server.
  source_rule:
    description:
      - The operator's allow-list of sources (C(pullrekun.core.dbsources.SourceRule)); a I(source)
        it does not allow is refused before anything is read. The server's own schemas are
        refused whether it is given or not.
    type: dict
    suboptions:
      named:
        description: Schemas the config names (default, authors, allowed_sources).
        type: list
        elements: str
        default: []
      patterns:
        description: Globs of further allowed names (C(dev_*)).
        type: list
        elements: str
        default: []
      forbidden:
        description: Schemas never copied (the state DB's).
        type: list
        elements: str
        default: []
      target_template:
        description: The environments' schema template; no name of its shape is a source.
        type: str
        default: "stage_{instance}"
author: pullrekun
"""

EXAMPLES = r"""
- name: Give the environment a fresh copy of the author's development schema.
  pullrekun_schema_clone:
    source: dev_alice
    target: stage_1
    login_host: db.internal
    login_user: pullrekun
    login_password: "{{ lookup('ansible.builtin.env', 'PULLREKUN_DB_ADMIN_PASSWORD') }}"
  delegate_to: localhost
"""

RETURN = r"""
tables:
  description: Tables copied.
  type: int
  returned: changed
rows:
  description: Rows copied.
  type: int
  returned: changed
seconds:
  description: Time the clone took.
  type: float
  returned: changed
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent", "user", "diff"], default="present"),
    source=dict(type="str", default=""),
    target=dict(type="str", required=True),
    login_host=dict(type="str", default="127.0.0.1"),
    login_port=dict(type="int", default=3306),
    login_unix_socket=dict(type="str", default=""),
    login_user=dict(type="str", required=True),
    login_password=dict(type="str", default="", no_log=True),
    source_host=dict(type="str", default=""),
    source_port=dict(type="int", default=3306),
    source_user=dict(type="str", default=""),
    source_password=dict(type="str", default="", no_log=True),
    user_name=dict(type="str", default=""),
    user_host=dict(type="str", default="%"),
    user_password=dict(type="str", default="", no_log=True),
    source_rule=dict(
        type="dict",
        options=dict(
            named=dict(type="list", elements="str", default=[]),
            patterns=dict(type="list", elements="str", default=[]),
            forbidden=dict(type="list", elements="str", default=[]),
            target_template=dict(type="str", default="stage_{instance}"),
        ),
    ),
)


def _servers(p: dict[str, Any]) -> tuple[Any, Any]:
    """The target's server (the admin connection), and the source's where it is another one."""
    from pullrekun.adapters.mysql import Server

    target = Server(
        host=p["login_host"],
        port=p["login_port"],
        user=p["login_user"],
        password=p["login_password"],
        unix_socket=p["login_unix_socket"] or None,
    )
    if not p["source_host"]:
        return target, None
    source = Server(
        host=p["source_host"],
        port=p["source_port"],
        user=p["source_user"] or p["login_user"],
        password=p["source_password"] or p["login_password"],
    )
    return target, source


def _rule(r: dict[str, Any] | None) -> Any:
    """The config's rule of which schemas may be cloned from (None: not given)."""
    from pullrekun.core.dbsources import SourceRule

    if r is None:
        return None
    return SourceRule(
        named=frozenset(r["named"]),
        patterns=tuple(r["patterns"]),
        forbidden=frozenset(r["forbidden"]),
        target_template=r["target_template"],
    )


def _run(module: AnsibleModule, p: dict[str, Any], user: Any) -> None:
    """Carry out ``state`` (exits the module; raises on a refusal or a database error)."""
    from pullrekun.adapters.env_users import ensure_env_user
    from pullrekun.adapters.mysql import schema_exists, session
    from pullrekun.adapters.schema_clone import clone_schema, drop_schema
    from pullrekun.adapters.schema_diff import schema_changes
    from pullrekun.core.validate import check_schema

    target_server, source_server = _servers(p)
    check_schema(p["target"])
    if p["state"] == "user":
        if module.check_mode:
            module.exit_json(changed=False)
        module.exit_json(changed=ensure_env_user(target_server, p["target"], user))
    if p["state"] == "absent":
        with session(target_server) as s:
            present = schema_exists(s, p["target"])
        if module.check_mode:
            module.exit_json(changed=present)
        module.exit_json(changed=drop_schema(target_server, p["target"], user))
    check_schema(p["source"])
    if p["state"] == "diff":
        # Read only: the structure of both schemas, what the environment's migrations changed.
        module.exit_json(
            changed=False, schema_changes=list(schema_changes(target_server, p["source"], p["target"]))
        )
    if module.check_mode:
        with session(source_server or target_server) as s:
            if not schema_exists(s, p["source"]):
                module.fail_json(msg=f"unknown source schema {p['source']!r}")
        module.exit_json(changed=True)
    result = clone_schema(
        target_server,
        p["source"],
        p["target"],
        source_server=source_server,
        user=user,
        rule=_rule(p["source_rule"]),
    )
    module.exit_json(changed=True, tables=result.tables, rows=result.rows, seconds=round(result.seconds, 2))


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "user", ["user_name"])],
        supports_check_mode=True,
    )
    try:
        from pullrekun.adapters.env_users import EnvUser
        from pullrekun.adapters.schema_copy import CloneError
        from pullrekun.core.validate import InvalidInput
    except ImportError as exc:
        module.fail_json(msg=f"pullrekun must be importable by the controller's Python: {exc}")
    p = module.params
    user = None
    if p["user_name"]:
        if p["state"] != "absent" and not p["user_password"]:
            module.fail_json(msg=f"the environment user {p['user_name']!r} needs a password (none was given)")
        user = EnvUser(p["user_name"], p["user_host"], p["user_password"])
    try:
        _run(module, p, user)
    except (InvalidInput, CloneError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # database errors: report, with the target untouched
        module.fail_json(msg=f"clone failed: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
