"""Carry out a plan's launches: one ansible-runner run of ``playbooks/launch.yml``, one inventory
host per launch (named by its client token), read back per launch.

The pass calls it before it plans again with the new instances (:mod:`pullrekun.app.reconcile`);
that second plan bootstraps and deploys them in the pass's deploy run.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pullrekun.adapters.known_hosts import known_hosts_file
from pullrekun.adapters.playbook.runner import RunResult, RunSpec, Unsafe, run_playbook
from pullrekun.adapters.playbook.settings import ansible_env
from pullrekun.adapters.project import project_dir
from pullrekun.config import Config
from pullrekun.config.secrets import playbook_secrets, redactor
from pullrekun.core import tags
from pullrekun.core.fleet import LaunchInstance, check_token
from pullrekun.core.redact import cap_line

PLAYBOOK = "playbooks/launch.yml"


@dataclass(frozen=True)
class LaunchOutcome:
    token: str
    ok: bool
    #: Why EC2 (or the run) refused it; "" when it went through.
    problem: str = ""


def build_inventory(launches: tuple[LaunchInstance, ...]) -> dict[str, object]:
    hosts = {
        check_token(launch.token): {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "pullrekun_launch_token": launch.token,
        }
        for launch in launches
    }
    return {"all": {"children": {"pullrekun_launch": {"hosts": hosts}}}}


def _outcome(run: RunResult, token: str) -> LaunchOutcome:
    if run.host_ok(token):
        return LaunchOutcome(token, True)
    failure = run.failures.get(token)
    if failure is not None:
        return LaunchOutcome(token, False, cap_line(failure.message))
    return LaunchOutcome(token, False, cap_line(run.explanation or "the launch run did not finish"))


def launch(
    launches: tuple[LaunchInstance, ...],
    cfg: Config,
    now: dt.datetime,
    ident: str,
    cancel: Callable[[], bool] | None = None,
) -> tuple[tuple[LaunchOutcome, ...], RunResult]:
    """Launch each (or find what an earlier try of its token launched); one outcome per launch."""
    artifacts_root = Path(cfg.ansible.artifacts_dir).resolve()
    artifacts_root.mkdir(parents=True, exist_ok=True)
    project = project_dir(cfg.ansible.project_dir)
    plan = [{"token": a.token, "reason": a.reason, "for_prs": list(a.for_prs)} for a in launches]
    spec = RunSpec(
        project_dir=project,
        playbook=PLAYBOOK,
        inventory=build_inventory(launches),
        extra_vars={
            "pullrekun_tags": tags.playbook_vars(),
            "pullrekun_ec2_region": cfg.ec2.region,
            "pullrekun_ec2_endpoint_url": cfg.ec2.endpoint_url,
            "pullrekun_pool": cfg.ec2.pool,
            "pullrekun_launch_template": Unsafe(cfg.ec2.launch_template),
            "pullrekun_launch_template_version": Unsafe(cfg.ec2.launch_template_version),
        },
        artifacts_root=artifacts_root,
        ident=f"{ident}-launch",
        env=ansible_env(
            project, artifacts_root, cfg.ansible.forks, cfg.ansible.ssh_common_args, known_hosts_file(cfg)
        ),
        timeout=cfg.ansible.timeout,
        idle_timeout=cfg.ansible.idle_timeout,
        files={"launches.json": json.dumps({"at": now.isoformat(), "launches": plan}, indent=2)},
        secrets=playbook_secrets(cfg),
        pass_env=frozenset(cfg.ansible.pass_env),
        redact=redactor(cfg),
    )
    run = run_playbook(spec, cancel)
    return tuple(_outcome(run, a.token) for a in launches), run
