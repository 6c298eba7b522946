"""The inventory of a reconcile run: which hosts each play of ``playbooks/reconcile.yml`` acts on
and with what, built from a plan.

Only validated values cross into Ansible: integers for PR numbers, 40-hex shas, instance ids and
host addresses checked by ``pullrekun.core.validate``. Operator settings from the config file are
written as ``!unsafe`` so Jinja never evaluates them; secrets are never in it, only lookups of the
environment variables the run's guard fills in.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from pullrekun.adapters.playbook.runner import Unsafe
from pullrekun.config import Config
from pullrekun.core.fleet import TerminateInstance
from pullrekun.core.model import (
    UP_STATES,
    CloneSchema,
    Deploy,
    DropSchema,
    Instance,
    Plan,
    StartInstance,
    StopInstance,
)
from pullrekun.core.servers import SwitchServer

#: The template deriving an environment user's password in the playbook (not a password itself).
_DERIVED_PASSWORD = (
    "{{ pullrekun_db_env_secret | pullrekun_env_password(staging_db_name, pullrekun_db_nonce) }}"  # noqa: S105
)


def _connection_vars(cfg: Config, inst: Instance) -> dict[str, Any]:
    host_vars: dict[str, Any] = {
        "ansible_host": inst.ansible_host,
        "pullrekun_instance_id": inst.instance_id,
        "staging_app_bind": inst.ansible_host,
        "staging_deploy_root": Unsafe(cfg.app.deploy_root.format(host=inst.ansible_host)),
        # The host key is pinned per instance, whatever address the instance has today.
        "ansible_ssh_extra_args": f"-o HostKeyAlias={inst.instance_id}",
        # ...and so is the SSH master kept between runs (ControlPersist): an address another
        # instance had is never reached through that instance's connection.
        "ansible_control_path": f"%(directory)s/{inst.instance_id}",
    }
    if cfg.ansible.connection == "local":
        host_vars["ansible_connection"] = "local"
        host_vars["ansible_python_interpreter"] = sys.executable
    return host_vars


def _env_lookup(name: str) -> str:
    """A template reading an environment variable on the controller (config checked the name)."""
    return "{{ lookup('ansible.builtin.env', '" + name + "') }}"


def _source_rule_vars(cfg: Config) -> dict[str, Any]:
    """The operator's allow-list of sources, for the clone's own check (names sorted: a stable file)."""
    rule = cfg.source_rule
    return {
        "named": [Unsafe(n) for n in sorted(rule.named)],
        "patterns": [Unsafe(p) for p in rule.patterns],
        "forbidden": [Unsafe(f) for f in sorted(rule.forbidden)],
        "target_template": Unsafe(rule.target_template),
    }


def _deploy_hosts(plan: Plan, instances: Mapping[str, Instance], cfg: Config) -> dict[str, Any]:
    clones = {c.instance_id: c for c in plan.of_type(CloneSchema)}
    policy = cfg.database.policy if cfg.database is not None else None
    bootstrap = _bootstrap_vars(cfg) if any(d.bootstrap for d in plan.of_type(Deploy)) else {}
    hosts: dict[str, Any] = {}
    for d in plan.of_type(Deploy):
        inst = instances[d.instance_id]
        host: dict[str, Any] = {
            **(bootstrap if d.bootstrap else {}),
            **_connection_vars(cfg, inst),
            "pullrekun_pr": d.pr_number,
            "staging_sha": d.sha,
            # What the app is told of its PR (validated values only: no title, no branch).
            "staging_app_env": {
                "PULLREKUN_PR": str(d.pr_number),
                "PULLREKUN_SHA": d.sha,
                "PULLREKUN_PR_URL": cfg.github.pr_url(d.pr_number),
                # The PR's own settings: names from [app] pr_settings, values checked (core.settings).
                **dict(d.settings),
            },
        }
        if policy is not None:
            host["staging_db_name"] = policy.target_for(inst)
            if d.db_source:
                host["pullrekun_db_source"] = d.db_source  # checked by the module (check_schema)
            host["pullrekun_db_nonce"] = d.db_nonce  # checked by the filter (dbusers.NONCE_RE)
            clone = clones.get(d.instance_id)
            if clone is not None:
                host["pullrekun_clone"] = {"source": clone.source, "target": clone.target}
                host["staging_db_fresh"] = True
        hosts[d.instance_id] = host
    return hosts


def _bootstrap_vars(cfg: Config) -> dict[str, Any]:
    """The ``[bootstrap]`` variables for a launched instance's hosts (the run's group variables,
    from ``[app]`` and ``[ansible]``, win where both set one)."""
    taken = _group_vars(cfg)
    found: dict[str, Any] = {"pullrekun_bootstrap_become": cfg.bootstrap.become}
    for name, value in cfg.bootstrap.role_vars(cfg.base_dir).items():
        if name in taken:
            continue
        if isinstance(value, str):
            found[name] = Unsafe(value)
        elif isinstance(value, tuple):
            found[name] = [Unsafe(v) for v in value]
        else:
            found[name] = value
    return found


def _stop_hosts(plan: Plan, instances: Mapping[str, Instance], cfg: Config) -> dict[str, Any]:
    hosts = {
        s.instance_id: {
            **_connection_vars(cfg, instances[s.instance_id]),
            # An instance that is already stopped has no app to stop (and no SSH).
            "pullrekun_stop_app": instances[s.instance_id].state in UP_STATES,
            "staging_wipe": s.wipe,
        }
        for s in plan.of_type(StopInstance)
    }
    for end in plan.of_type(TerminateInstance):
        # Nothing on it is kept: no app to stop, no tags to clear.
        hosts[end.instance_id] = {
            **_connection_vars(cfg, instances[end.instance_id]),
            "pullrekun_stop_app": False,
            "pullrekun_terminate": True,
        }
    for drop in plan.of_type(DropSchema):
        host = hosts.setdefault(
            drop.instance_id,
            {**_connection_vars(cfg, instances[drop.instance_id]), "pullrekun_stop_app": False},
        )
        host["pullrekun_drop_schema"] = drop.schema
    return hosts


def _database_vars(cfg: Config) -> dict[str, Any]:
    db = cfg.database
    if db is None:
        return {}
    found: dict[str, Any] = {
        "pullrekun_db": {
            "host": Unsafe(db.host),
            "port": db.port,
            "unix_socket": Unsafe(db.unix_socket),
            "admin_user": Unsafe(db.admin_user),
            "source_host": Unsafe(db.source_host),
            "source_port": db.source_port,
            "source_user": Unsafe(db.source_user),
        },
        # Secrets stay in the controller's environment; only the variable names are written.
        "pullrekun_db_source_password": _env_lookup(db.source_password_env),
        "pullrekun_db_admin_password": _env_lookup(db.admin_password_env),
        "staging_db_host": Unsafe(db.host),
        "staging_db_port": db.port,
        "staging_migrate_command": Unsafe(db.migrate_command),
        "pullrekun_db_env_users": db.env_users,
        "pullrekun_db_source_rule": _source_rule_vars(cfg),
    }
    if db.env_users:
        # Derived in the playbook (playbooks/filter_plugins) from the secret, per schema.
        found.update(
            pullrekun_db_user_host=Unsafe(db.env_user_host),
            pullrekun_db_env_secret=_env_lookup(db.app_password_env),
            staging_db_user="{{ staging_db_name | pullrekun_env_user }}",
            staging_db_password=_DERIVED_PASSWORD,
        )
    else:
        found.update(
            staging_db_user=Unsafe(db.app_user), staging_db_password=_env_lookup(db.app_password_env)
        )
    return found


def _group_vars(cfg: Config) -> dict[str, Any]:
    app = cfg.app
    group_vars: dict[str, Any] = {
        "staging_repo_url": Unsafe(app.repo_url),
        "staging_service_manager": app.service_manager,
        "staging_service_name": Unsafe(app.service_name),
        "staging_app_command": Unsafe(app.command),
        "staging_app_port": app.port,
        "staging_health_path": Unsafe(app.health_path),
        "staging_health_timeout": app.health_timeout,
        "staging_revision_check": Unsafe(app.revision_check),
        "staging_before_switch_hook": Unsafe(app.before_switch_hook),
        "staging_keep_releases": app.keep_releases,
        "ansible_python_interpreter": Unsafe(cfg.ansible.remote_python),
        "pullrekun_boot_timeout": cfg.ansible.boot_timeout,
        **_database_vars(cfg),
    }
    # Empty settings fall back to the role's defaults (and an empty !unsafe reads as null).
    group_vars = {k: v for k, v in group_vars.items() if v != ""}
    # Empty is a setting of its own here (the PR's code runs as the deploy user): kept as "".
    group_vars["staging_app_user"] = app.run_user  # checked against config.types.USER_NAME_RE
    if cfg.ansible.connection == "ssh" and cfg.ansible.ssh_user:
        group_vars["ansible_user"] = Unsafe(cfg.ansible.ssh_user)
    if cfg.ansible.ssh_private_key:
        group_vars["ansible_ssh_private_key_file"] = Unsafe(cfg.ansible.ssh_private_key)
    return group_vars


def build_inventory(plan: Plan, instances: Mapping[str, Instance], cfg: Config) -> dict[str, Any]:
    """The run's inventory: localhost for EC2 calls, pullrekun_stop, _start, _deploy (with
    _deploy_start, _deploy_wait, _deploy_bootstrap, _deploy_db_user and _deploy_db_diff inside
    it) and _switch."""
    deploy_hosts = _deploy_hosts(plan, instances, cfg)
    starts = {a.instance_id for a in plan.of_type(StartInstance)}
    # Free instances started on request (no deploy): started and left running.
    start_hosts = {
        iid: {**_connection_vars(cfg, instances[iid])} for iid in sorted(starts - set(deploy_hosts))
    }
    bootstrap = {d.instance_id for d in plan.of_type(Deploy) if d.bootstrap}
    wake = (starts & set(deploy_hosts)) | bootstrap
    # Waiting for a started instance to answer means waiting for its SSH: hosts reached with the
    # local connection (the controller itself) have nothing to wait for.
    wait = set() if cfg.ansible.connection == "local" else wake
    localhost = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    # Developers' servers: EC2 calls from the controller only (no connection to the server).
    switch_hosts = {
        s.instance_id: {
            **localhost,
            "pullrekun_instance_id": s.instance_id,
            "pullrekun_switch_state": "running" if s.running else "stopped",
        }
        for s in plan.of_type(SwitchServer)
    }
    deploy_groups = {
        # A launched instance is waited for like a started one (running, then SSH).
        "pullrekun_deploy_start": {"hosts": dict.fromkeys(sorted(wake))},
        "pullrekun_deploy_wait": {"hosts": dict.fromkeys(sorted(wait))},
        "pullrekun_deploy_bootstrap": {"hosts": dict.fromkeys(sorted(bootstrap))},
        **_database_groups(cfg, deploy_hosts),
    }
    groups = {
        "pullrekun_stop": {"hosts": _stop_hosts(plan, instances, cfg)},
        "pullrekun_start": {"hosts": start_hosts},
        "pullrekun_deploy": {"hosts": deploy_hosts, "children": deploy_groups},
        "pullrekun_switch": {"hosts": switch_hosts},
    }
    early = {name: groups.get(name) or deploy_groups[name] for name in KEEP_GOING_PLAYS}
    return {
        "all": {
            "vars": _group_vars(cfg),
            "hosts": {"localhost": localhost},
            "children": {**groups, **_keep_going_groups(early)},
        }
    }


#: The plays before the deploy play, by the group each runs over. Ansible ends a playbook when
#: every host of a play failed: one instance EC2 would not start, alone in its play, would end the
#: run before the deploys of every other environment.
KEEP_GOING_PLAYS = (
    "pullrekun_stop",
    "pullrekun_start",
    "pullrekun_switch",
    "pullrekun_deploy_start",
    "pullrekun_deploy_wait",
    "pullrekun_deploy_bootstrap",
    "pullrekun_deploy_db_user",
)
#: A host that is in each of those plays with real hosts and leaves it at once (its first task,
#: `meta: end_host`), so never all of a play's hosts fail. It never connects anywhere.
KEEP_GOING_HOST = "pullrekun-keep-going"


def _keep_going_groups(early: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``<group>_keep_going``: the keep-going host where ``group`` has hosts (an empty play stays
    empty: a play no host is in costs nothing)."""
    host = {KEEP_GOING_HOST: {"ansible_connection": "local"}}
    return {f"{name}_keep_going": {"hosts": host if group["hosts"] else {}} for name, group in early.items()}


def _database_groups(cfg: Config, deploy_hosts: Mapping[str, Any]) -> dict[str, Any]:
    """Deploys whose environment user is ensured before (those that keep their schema: a clone
    makes the user), and whose schema is compared with its source after."""
    users = cfg.database is not None and cfg.database.env_users
    keep = [
        i for i, h in deploy_hosts.items() if users and "staging_db_name" in h and "pullrekun_clone" not in h
    ]
    diff = [i for i, h in deploy_hosts.items() if "staging_db_name" in h and "pullrekun_db_source" in h]
    return {
        "pullrekun_deploy_db_user": {"hosts": dict.fromkeys(sorted(keep))},
        "pullrekun_deploy_db_diff": {"hosts": dict.fromkeys(sorted(diff))},
    }


def schemas(inventory: dict[str, Any]) -> set[tuple[str, str]]:
    """The (schema, owner nonce) of each environment a run deploys: their users' passwords are
    secrets."""
    hosts = inventory["all"]["children"]["pullrekun_deploy"]["hosts"].values()
    return {
        (str(h["staging_db_name"]), str(h["pullrekun_db_nonce"])) for h in hosts if "staging_db_name" in h
    }
