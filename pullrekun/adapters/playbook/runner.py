"""The one module that calls ansible-runner.

Each run gets a fresh private data dir under the artifacts root (so ansible-runner
never reuses another run's ``env/`` files), an inventory written by the caller, extra
vars passed as a dict, a timeout, a cancel callback and a cheap event handler that
keeps, per host, the first failure (task, message, last lines of output). The run's
status becomes a typed :class:`RunResult` that says what happened in words.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pullrekun.adapters.playbook.guard import RECORD_NAME
from pullrekun.core.steps import Step, step_of

log = logging.getLogger(__name__)


class Unsafe(str):
    """A string Ansible must never template (written to the inventory as ``!unsafe``)."""

    __slots__ = ()


class _InventoryDumper(yaml.SafeDumper):
    pass


def _unsafe_representer(dumper: yaml.SafeDumper, data: Unsafe) -> yaml.Node:
    return dumper.represent_scalar("!unsafe", str(data), style="'")


_InventoryDumper.add_representer(Unsafe, _unsafe_representer)


def dump_inventory(inventory: Mapping[str, Any]) -> str:
    return yaml.dump(dict(inventory), Dumper=_InventoryDumper, sort_keys=True, default_flow_style=False)


@dataclass(frozen=True)
class HostFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False
    output_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    status: str  # successful | failed | timeout | canceled | error
    rc: int | None
    private_data_dir: str
    artifacts_dir: str
    command: tuple[str, ...]
    failures: Mapping[str, HostFailure] = field(default_factory=dict)
    failed_hosts: frozenset[str] = frozenset()
    ok_hosts: frozenset[str] = frozenset()
    output_tail: tuple[str, ...] = ()
    #: Per host, the step of the first task that failed there (from the tasks' step tags).
    failed_steps: Mapping[str, Step] = field(default_factory=dict)
    #: Per host, the steps whose tagged tasks finished there.
    done_steps: Mapping[str, frozenset[Step]] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        match self.status:
            case "successful":
                return "playbook run finished"
            case "failed":
                return f"playbook run failed (rc={self.rc}); see {self.artifacts_dir}"
            case "timeout":
                return f"playbook run hit its timeout; see {self.artifacts_dir}"
            case "canceled":
                return "playbook run was canceled"
            case _:
                return f"playbook run could not start ({self.status}); see {self.artifacts_dir}"

    def host_ok(self, host: str) -> bool:
        return host in self.ok_hosts and host not in self.failed_hosts


class _Events:
    """Keeps the first real failure per host; ignores ignored errors."""

    def __init__(self) -> None:
        self.failures: dict[str, HostFailure] = {}

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        data = event.get("event_data", {})
        if kind not in {"runner_on_failed", "runner_on_unreachable"} or data.get("ignore_errors"):
            return True  # True: runner keeps the event in the artifacts (and computes stats)
        host = data.get("host")
        if not host or host in self.failures:
            return True
        res = data.get("res") or {}
        msg = str(res.get("msg") or res.get("module_stderr") or "failed")
        stderr = str(res.get("stderr") or "").strip()
        if stderr and stderr not in msg:
            msg = f"{msg}: {stderr.splitlines()[-1]}"  # e.g. "non-zero return code: health check failed: ..."
        tail = [*(res.get("stdout_lines") or [])[-10:], *(res.get("stderr_lines") or [])[-10:]]
        self.failures[host] = HostFailure(
            host=host,
            task=str(data.get("task") or "?"),
            message=msg.strip()[:2000],
            unreachable=kind == "runner_on_unreachable",
            output_tail=tuple(str(line) for line in tail),
        )
        return True


STEPS_FILE = "steps.jsonl"


def read_steps(path: Path) -> tuple[dict[str, Step], dict[str, frozenset[Step]]]:
    """The steps file the ``pullrekun_steps`` callback wrote: first failed step, finished steps."""
    failed: dict[str, Step] = {}
    done: dict[str, set[Step]] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for line in lines:
        try:
            rec = json.loads(line)
            host, event, tags = str(rec["host"]), str(rec["event"]), [str(t) for t in rec["steps"]]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a killed run
        if event == "ok":
            done.setdefault(host, set()).add(step_of(tags))
        elif host not in failed:
            failed[host] = step_of(tags, unreachable=event == "unreachable")
    return failed, {h: frozenset(s) for h, s in done.items()}


def ansible_env(project_dir: Path, state_dir: Path, forks: int, ssh_common_args: str) -> dict[str, str]:
    """Settings for every run: fast SSH (pipelining + ControlPersist), files kept out of ~."""
    bindir = str(Path(sys.executable).parent)
    callbacks = str(project_dir / "playbooks" / "callback_plugins")
    control_dir = Path(tempfile.gettempdir()) / f"pullrekun-cp-{os.getuid()}"
    control_dir.mkdir(mode=0o700, exist_ok=True)
    ssh_args = "-o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=15"
    return {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_ROLES_PATH": str(project_dir / "roles"),
        # The pullrekun_steps callback (after any the environment names: the tests' crash_at).
        "ANSIBLE_CALLBACK_PLUGINS": os.pathsep.join(
            filter(None, (os.environ.get("ANSIBLE_CALLBACK_PLUGINS"), callbacks))
        ),
        "ANSIBLE_HOME": str(state_dir / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(state_dir / "ansible-tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": f"{ssh_args} {ssh_common_args}".strip(),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_TIMEOUT": "20",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    }


def run_playbook(
    *,
    project_dir: Path,
    playbook: str,
    inventory: Mapping[str, Any],
    extra_vars: Mapping[str, Any],
    artifacts_root: Path,
    ident: str,
    env: Mapping[str, str],
    timeout: int,
    files: Mapping[str, str] | None = None,
    cancel: Callable[[], bool] | None = None,
    quiet: bool = True,
) -> RunResult:
    """Run one playbook; never raises for playbook failures (they are in the result)."""
    private = artifacts_root / ident
    (private / "inventory").mkdir(parents=True, exist_ok=False)
    (private / "inventory" / "hosts.yml").write_text(dump_inventory(inventory))
    for name, content in (files or {}).items():
        (private / name).write_text(content)
    import ansible_runner  # imported here: `plan` and `status` never need it

    events = _Events()
    artifacts = private / "artifacts"
    cmd = ("ansible-playbook", "-i", str(private / "inventory"), str(project_dir / playbook))
    # ansible-playbook runs under a guard that ends it (and its forks) if this process dies.
    guard = [
        "-m", "pullrekun.adapters.playbook.guard", str(private / RECORD_NAME), str(os.getpid()), "--",
        "ansible-playbook", str(project_dir / playbook),
    ]  # fmt: skip
    # The run's settings are the environment's (ansible_env): no ansible.cfg in the working
    # directory, the home directory or /etc/ansible changes what a pass does.
    config = private / "ansible.cfg"
    config.write_text("# Empty on purpose: pullrekun passes its settings as environment variables.\n")
    # Enough to replay by hand: ansible-playbook -i <run>/inventory <playbook> -e @<run>/extravars.json
    (private / "extravars.json").write_text(json.dumps(dict(extra_vars), indent=2))
    (private / "command.json").write_text(
        json.dumps({"command": cmd, "extra_vars": dict(extra_vars)}, indent=2, default=str)
    )
    try:
        r = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(project_dir),
            binary=sys.executable,
            cmdline=shlex.join(guard),
            inventory=str(private / "inventory"),
            extravars=dict(extra_vars),
            envvars={**env, "PULLREKUN_STEPS_FILE": str(private / STEPS_FILE), "ANSIBLE_CONFIG": str(config)},
            artifact_dir=str(artifacts),
            ident=ident,
            timeout=timeout,
            suppress_env_files=True,
            quiet=quiet,
            event_handler=events,
            cancel_callback=cancel or (lambda: False),
        )
    except Exception as exc:  # runner set-up errors: report, never crash the pass
        log.exception("ansible-runner failed to start")
        return RunResult("error: " + str(exc)[:200], None, str(private), str(artifacts), cmd)
    stats: dict[str, dict[str, int]] = r.stats or {}
    tail: tuple[str, ...] = ()
    stdout_file = artifacts / ident / "stdout"
    if r.status != "successful" and stdout_file.exists():
        lines = [ln for ln in stdout_file.read_text(errors="replace").splitlines() if ln.strip()]
        tail = tuple(lines[-15:])
    failed_steps, done_steps = read_steps(private / STEPS_FILE)
    failed = set(stats.get("failures", {})) | set(stats.get("dark", {}))
    seen = set(stats.get("processed", {}))
    return RunResult(
        status=str(r.status),
        rc=r.rc,
        private_data_dir=str(private),
        artifacts_dir=str(artifacts / ident),
        command=cmd,
        failures=events.failures,
        failed_hosts=frozenset(failed),
        ok_hosts=frozenset(seen - failed),
        output_tail=tail,
        failed_steps=failed_steps,
        done_steps=done_steps,
    )
