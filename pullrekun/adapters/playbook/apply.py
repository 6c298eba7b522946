"""Apply a plan: turn its actions into one ansible-runner run and read back per-host outcomes.

Only validated values cross into Ansible: integers for PR numbers, 40-hex shas,
instance ids and host addresses checked by ``pullrekun.core.validate``. Operator settings
from the config file are written as ``!unsafe`` so Jinja never evaluates them.
The pass calls it only for plans with playbook work (:mod:`pullrekun.app.dispatch`): a plan
made only of records costs no Ansible start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pullrekun.adapters.known_hosts import known_hosts_file
from pullrekun.adapters.playbook.runner import RunResult, RunSpec, Unsafe, run_playbook
from pullrekun.adapters.playbook.settings import ansible_env
from pullrekun.adapters.project import project_dir
from pullrekun.adapters.state.journal import DeployOutcome
from pullrekun.config import Config
from pullrekun.config.secrets import env_db_passwords, playbook_secrets, redactor
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
from pullrekun.core.planjson import plan_json
from pullrekun.core.redact import cap_line, cap_output
from pullrekun.core.servers import SwitchServer
from pullrekun.core.steps import Step

PLAYBOOK = "playbooks/reconcile.yml"
#: The template deriving an environment user's password in the playbook (not a password itself).
_DERIVED_PASSWORD = (
    "{{ pullrekun_db_env_secret | pullrekun_env_password(staging_db_name, pullrekun_db_nonce) }}"  # noqa: S105
)
_HOST_KEY_CHANGED = re.compile(
    r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|Host key for \S+ has changed"
)


_TERMINATION_PROTECTED = re.compile(
    r"OperationNotPermitted|DisableApiTermination|termination protection", re.I
)


@dataclass(frozen=True)
class ApplyResult:
    outcomes: tuple[DeployOutcome, ...]
    run: RunResult | None
    #: Instances terminated (id -> why), and those EC2 refused to terminate (id -> its answer).
    terminated: Mapping[str, str] = field(default_factory=dict)
    protected: Mapping[str, str] = field(default_factory=dict)


def _connection_vars(cfg: Config, inst: Instance) -> dict[str, Any]:
    host_vars: dict[str, Any] = {
        "ansible_host": inst.ansible_host,
        "pullrekun_instance_id": inst.instance_id,
        "staging_app_bind": inst.ansible_host,
        "staging_deploy_root": Unsafe(cfg.app.deploy_root.format(host=inst.ansible_host)),
        # The host key is pinned per instance, whatever address the instance has today.
        "ansible_ssh_extra_args": f"-o HostKeyAlias={inst.instance_id}",
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
    _deploy_start, _deploy_bootstrap, _deploy_db_user and _deploy_db_diff inside it) and _switch."""
    deploy_hosts = _deploy_hosts(plan, instances, cfg)
    starts = {a.instance_id for a in plan.of_type(StartInstance)}
    # Free instances started on request (no deploy): started and left running.
    start_hosts = {
        iid: {**_connection_vars(cfg, instances[iid])} for iid in sorted(starts - set(deploy_hosts))
    }
    bootstrap = {d.instance_id for d in plan.of_type(Deploy) if d.bootstrap}
    wake = (starts & set(deploy_hosts)) | bootstrap
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
    return {
        "all": {
            "vars": _group_vars(cfg),
            "hosts": {"localhost": localhost},
            "children": {
                "pullrekun_stop": {"hosts": _stop_hosts(plan, instances, cfg)},
                "pullrekun_start": {"hosts": start_hosts},
                "pullrekun_deploy": {
                    "hosts": deploy_hosts,
                    "children": {
                        # A launched instance is waited for like a started one (running, then SSH).
                        "pullrekun_deploy_start": {"hosts": dict.fromkeys(sorted(wake))},
                        "pullrekun_deploy_bootstrap": {"hosts": dict.fromkeys(sorted(bootstrap))},
                        **_database_groups(cfg, deploy_hosts),
                    },
                },
                "pullrekun_switch": {"hosts": switch_hosts},
            },
        }
    }


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


def _schemas(inventory: dict[str, Any]) -> set[tuple[str, str]]:
    """The (schema, owner nonce) of each environment a run deploys: their users' passwords are
    secrets."""
    hosts = inventory["all"]["children"]["pullrekun_deploy"]["hosts"].values()
    return {
        (str(h["staging_db_name"]), str(h["pullrekun_db_nonce"])) for h in hosts if "staging_db_name" in h
    }


def prune_artifacts(root: Path, keep: int) -> list[Path]:
    """Remove the oldest passes' run directories beyond ``keep`` (run ids sort by time); a pass's
    launch run (``<id>-launch``) goes with its pass's."""
    runs = sorted(p for p in root.iterdir() if (p / "plan.json").is_file())
    doomed = runs[: max(0, len(runs) - keep)]
    oldest_kept = runs[len(doomed)].name if len(runs) > len(doomed) else None
    launches = [
        p
        for p in root.iterdir()
        if (p / "launches.json").is_file() and (oldest_kept is None or p.name < oldest_kept)
    ]
    for path in [*doomed, *sorted(launches)]:
        shutil.rmtree(path, ignore_errors=True)
    return [*doomed, *sorted(launches)]


def apply(
    plan: Plan,
    instances: Mapping[str, Instance],
    cfg: Config,
    now: dt.datetime,
    ident: str,
    cancel: Callable[[], bool] | None = None,
) -> ApplyResult:
    """Run the plan's playbook once (its Start/Stop/Drop/Clone/Deploy actions); every Deploy
    gets an outcome, success or failure."""
    deploys = plan.of_type(Deploy)
    clones = {c.instance_id: c for c in plan.of_type(CloneSchema)}
    artifacts_root = Path(cfg.ansible.artifacts_dir).resolve()
    artifacts_root.mkdir(parents=True, exist_ok=True)
    project = project_dir(cfg.ansible.project_dir)
    known_hosts = known_hosts_file(cfg)
    os.close(os.open(known_hosts, os.O_WRONLY | os.O_CREAT, 0o600))  # ssh appends to it
    inventory = build_inventory(plan, instances, cfg)
    spec = RunSpec(
        project_dir=project,
        playbook=PLAYBOOK,
        inventory=inventory,
        extra_vars={
            "pullrekun_ec2_region": cfg.ec2.region,
            "pullrekun_ec2_endpoint_url": cfg.ec2.endpoint_url,
        },
        artifacts_root=artifacts_root,
        ident=ident,
        env=ansible_env(project, artifacts_root, cfg.ansible.forks, cfg.ansible.ssh_common_args, known_hosts),
        timeout=cfg.ansible.timeout,
        idle_timeout=cfg.ansible.idle_timeout,
        files={"plan.json": json.dumps({"at": now.isoformat(), **plan_json(plan)}, indent=2)},
        secrets=playbook_secrets(cfg),
        pass_env=frozenset(cfg.ansible.pass_env),
        redact=redactor(cfg, *env_db_passwords(cfg, _schemas(inventory))),
    )
    run = run_playbook(spec, cancel)
    prune_artifacts(artifacts_root, cfg.ansible.keep_artifacts)
    terminated, protected = _terminations(plan, run)
    outcomes = [_outcome(d, clones.get(d.instance_id), run) for d in deploys]
    return ApplyResult(tuple(outcomes), run, terminated, protected)


def _terminations(plan: Plan, run: RunResult) -> tuple[dict[str, str], dict[str, str]]:
    """Which terminations went through (id -> why), and which EC2 refused for protection."""
    done: dict[str, str] = {}
    protected: dict[str, str] = {}
    for end in plan.of_type(TerminateInstance):
        failure = run.failures.get(end.instance_id)
        if run.host_ok(end.instance_id):
            done[end.instance_id] = f"{end.reason} by {end.actor}" if end.actor else end.reason
        elif failure is not None and _TERMINATION_PROTECTED.search(failure.message):
            protected[end.instance_id] = cap_line(failure.message)
    return done, protected


def _outcome(d: Deploy, clone: CloneSchema | None, run: RunResult) -> DeployOutcome:
    """What became of one deploy: its host's success, or the failure, its step and output."""
    cloned = clone if clone is not None and Step.SCHEMA in run.done_steps.get(d.instance_id, ()) else None
    if run.host_ok(d.instance_id):
        return DeployOutcome(
            d.pr_number,
            d.instance_id,
            d.sha,
            True,
            artifacts=run.artifacts_dir,
            cloned=cloned,
            settings=d.settings,
            schema_changes=run.schema_changes.get(d.instance_id),
        )
    failure = run.failures.get(d.instance_id)
    if failure is not None:
        task = failure.task
        message = ("host unreachable: " if failure.unreachable else "") + failure.message
        # Unreachable at a task, or a failed wait for the started instance: the same refusal.
        if _HOST_KEY_CHANGED.search(failure.message):
            message = (
                f"the host key of {d.instance_id} is not the one pullrekun learned before (a "
                "re-imaged instance, or someone in between): nothing was deployed. Once you know "
                f"why, `pullrekun accept-host-key {d.instance_id}` lets the next pass learn the new "
                f"key.\n{failure.message}"
            )
        if failure.output_tail:
            message += "\n" + "\n".join(cap_output(failure.output_tail))
    else:
        task, message = "(run)", "\n".join([run.explanation, *run.output_tail])
    step = run.failed_steps.get(d.instance_id, Step.DEPLOY)
    return DeployOutcome(
        d.pr_number, d.instance_id, d.sha, False, task, message, run.artifacts_dir, cloned, step
    )
