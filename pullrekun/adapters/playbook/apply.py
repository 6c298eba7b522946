"""Apply a plan: turn its actions into one ansible-runner run and read back per-host outcomes.

What the run's hosts do and with what is its inventory (:mod:`.inventory`). The pass calls
it only for plans with playbook work (:mod:`pullrekun.app.dispatch`): a plan made only of
records costs no Ansible start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pullrekun.adapters.known_hosts import known_hosts_file
from pullrekun.adapters.playbook.inventory import build_inventory, schemas
from pullrekun.adapters.playbook.runner import RunResult, RunSpec, run_playbook
from pullrekun.adapters.playbook.settings import ansible_env
from pullrekun.adapters.project import project_dir
from pullrekun.adapters.state.journal import DeployOutcome
from pullrekun.config import Config
from pullrekun.config.secrets import env_db_passwords, playbook_secrets, redactor
from pullrekun.core.fleet import TerminateInstance
from pullrekun.core.model import CloneSchema, Deploy, Instance, Plan
from pullrekun.core.planjson import plan_json
from pullrekun.core.redact import cap_line, cap_output
from pullrekun.core.steps import Step

PLAYBOOK = "playbooks/reconcile.yml"
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
        redact=redactor(cfg, *env_db_passwords(cfg, schemas(inventory))),
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
    # A host that failed nowhere is not yet served: a run can end before it reaches the deploy
    # play. The deploy's last check (its health check, skipped when it passes) says it got there.
    if run.host_ok(d.instance_id) and Step.HEALTH_CHECK in run.passed_steps.get(d.instance_id, ()):
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
        why = "the run ended before the deploy on this host finished" if run.ok else run.explanation
        task, message = "(run)", "\n".join([why, *run.output_tail])
    step = run.failed_steps.get(d.instance_id, Step.DEPLOY)
    return DeployOutcome(
        d.pr_number, d.instance_id, d.sha, False, task, message, run.artifacts_dir, cloned, step
    )
