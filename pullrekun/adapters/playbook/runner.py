"""The one module that calls ansible-runner.

Each run gets a fresh private data dir under the artifacts root (so ansible-runner
never reuses another run's ``env/`` files), an inventory written by the caller, extra
vars passed as a dict, a timeout, a cancel callback and a cheap event handler that
keeps, per host, the first failure (task, message, last lines of output). The run's
status becomes a typed :class:`RunResult` that says what happened in words.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import os
import re
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from pullrekun.adapters.playbook import warm
from pullrekun.adapters.playbook.guard import (
    PLAYBOOK_CLI,
    RECORD_NAME,
    SECRET_NAMES_ENV,
    SECRET_PROMPT,
    SOCKET_ENV,
    START_NAME,
)
from pullrekun.adapters.playbook.settings import run_environment
from pullrekun.adapters.playbook.steps_file import STEPS_FILE, read_steps
from pullrekun.core.redact import cap_output
from pullrekun.core.steps import Step

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


class RunStatus(enum.StrEnum):
    """How a playbook run ended (:attr:`RunResult.explanation` says it in words)."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    #: The run took longer than its timeout.
    TIMEOUT = "timeout"
    #: No event came for the idle timeout (a hung task, e.g. an SSH connection that never answers).
    IDLE = "idle"
    CANCELED = "canceled"
    #: ansible-runner could not start the run (:attr:`RunResult.error` says why).
    ERROR = "error"


@dataclass(frozen=True)
class RunSpec:
    """One playbook run, as the caller asks for it."""

    project_dir: Path
    playbook: str
    inventory: Mapping[str, Any]
    extra_vars: Mapping[str, Any]
    artifacts_root: Path
    ident: str
    env: Mapping[str, str]
    timeout: int
    #: Seconds without any event after which the run is stopped (0: never).
    idle_timeout: int = 0
    #: More files for the run directory (name -> text), e.g. the plan applied.
    files: Mapping[str, str] = field(default_factory=dict)
    #: Secret variables (name -> value) handed over in memory only.
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: More variables of the controller's environment the run may see.
    pass_env: frozenset[str] = frozenset()
    redact: Callable[[str], str] = str
    quiet: bool = True


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
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
    #: Per host, the steps whose tagged tasks it went past (finished, or skipped as not needed).
    passed_steps: Mapping[str, frozenset[Step]] = field(default_factory=dict)
    #: Why the run could not start (status ERROR), or the idle timeout's seconds (status IDLE).
    error: str = ""
    #: Per host, what its environment's migrations changed in its schema (the diff task's answer).
    schema_changes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: How ansible-playbook was started: "warm" (a fork of `serve`'s warm start), "cold" or "".
    started: str = ""

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.SUCCESSFUL

    @property
    def explanation(self) -> str:
        match self.status:
            case RunStatus.SUCCESSFUL:
                return "playbook run finished"
            case RunStatus.FAILED:
                return f"playbook run failed (rc={self.rc}); see {self.artifacts_dir}"
            case RunStatus.TIMEOUT:
                return f"playbook run hit its timeout; see {self.artifacts_dir}"
            case RunStatus.IDLE:
                return (
                    f"playbook run stopped: nothing happened for {self.error} s (a task hung, e.g. an "
                    f"SSH connection that never answered); see {self.artifacts_dir}"
                )
            case RunStatus.CANCELED:
                return "playbook run was canceled"
            case RunStatus.ERROR:
                return f"playbook run could not start ({self.error}); see {self.artifacts_dir}"

    def host_ok(self, host: str) -> bool:
        return host in self.ok_hosts and host not in self.failed_hosts


def _scrub(data: Any, redact: Callable[[str], str]) -> Any:
    """``data`` (an event, as ansible-runner will write it) with every string passed through ``redact``."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        for key, value in data.items():
            data[key] = _scrub(value, redact)
    elif isinstance(data, list):
        data[:] = [_scrub(value, redact) for value in data]
    return data


class _Events:
    """Sees every event before ansible-runner writes it: takes the controller's secrets out of it,
    appends its text to the run's ``stdout`` file, and keeps the first real failure per host."""

    def __init__(self, redact: Callable[[str], str], stdout: IO[str]) -> None:
        self.failures: dict[str, HostFailure] = {}
        self.schema_changes: dict[str, tuple[str, ...]] = {}
        self.tail: deque[str] = deque(maxlen=15)
        self._redact = redact
        self._stdout = stdout
        self.last_event = time.monotonic()

    def idle_for(self) -> float:
        return time.monotonic() - self.last_event

    def __call__(self, event: dict[str, Any]) -> bool:
        self.last_event = time.monotonic()
        _scrub(event, self._redact)
        text = str(event.get("stdout") or "")
        if text:
            self._stdout.write(text + "\n")
            self._stdout.flush()
            self.tail.extend(
                ln for ln in text.splitlines() if ln.strip() and not ln.startswith(_PROMPT_START)
            )
        kind = event.get("event")
        data = event.get("event_data", {})
        if kind == "runner_on_ok" and data.get("task") == SCHEMA_DIFF_TASK:
            told = (data.get("res") or {}).get("schema_changes")
            if isinstance(told, list) and data.get("host"):
                self.schema_changes[str(data["host"])] = tuple(str(line)[:300] for line in told[:50])
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
        # A task's own message may carry lines of output (the health check's does): each is cut.
        msg = "\n".join(cap_output(msg.strip().splitlines())) or "failed"
        tail = [*(res.get("stdout_lines") or [])[-10:], *(res.get("stderr_lines") or [])[-10:]]
        self.failures[host] = HostFailure(
            host=host,
            task=str(data.get("task") or "?"),
            message=msg,
            unreachable=kind == "runner_on_unreachable",
            output_tail=cap_output([str(line) for line in tail]),
        )
        return True


#: The playbook task whose answer says what a PR changed in its database.
SCHEMA_DIFF_TASK = "Compare the environment's schema with its source."


_PROMPT_START = SECRET_PROMPT.split(" ", 1)[0]


def _secret_answers(secrets: Mapping[str, str]) -> dict[str, str]:
    """ansible-runner's answers to the guard's prompts (it answers them as it does SSH and vault
    password prompts): each secret base64-encoded, so no byte of it means anything to the pty."""
    return {
        re.escape(SECRET_PROMPT.format(name=name)): base64.b64encode(value.encode()).decode()
        for name, value in secrets.items()
    }


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def run_playbook(spec: RunSpec, cancel: Callable[[], bool] | None = None) -> RunResult:
    """Run one playbook; never raises for playbook failures (they are in the result).

    ``spec.secrets`` (name -> value) reach ansible-playbook's environment in memory only: the
    guard asks for each on its terminal and ansible-runner answers. The run directory (mode 0700,
    its files 0600) holds names, never values; every event and the ``stdout`` file are written
    through ``spec.redact``. ``cancel`` stops the run, whoever sets it.
    """
    private = spec.artifacts_root / spec.ident
    _private_dir(spec.artifacts_root)
    private.mkdir(mode=0o700)
    (private / "inventory").mkdir(mode=0o700)
    (private / "artifacts").mkdir(mode=0o700)
    _private_file(private / "inventory" / "hosts.yml", dump_inventory(spec.inventory))
    for name, content in spec.files.items():
        _private_file(private / name, content)
    playbook = str(spec.project_dir / spec.playbook)
    cmd = ("ansible-playbook", "-i", str(private / "inventory"), playbook)
    # The run's settings are the environment's (ansible_env): no ansible.cfg in the working
    # directory, the home directory or /etc/ansible changes what a pass does. One path for every
    # run, so their settings are the same and `serve`'s warm ansible-playbook serves them all.
    config = spec.artifacts_root / "ansible.cfg"
    _private_file(config, "# Empty on purpose: pullrekun passes its settings as environment variables.\n")
    # Enough to replay by hand: ansible-playbook -i <run>/inventory <playbook> -e @<run>/extravars.json
    extra_vars = dict(spec.extra_vars)
    _private_file(private / "extravars.json", json.dumps(extra_vars, indent=2))
    _private_file(
        private / "command.json",
        json.dumps({"command": cmd, "extra_vars": extra_vars}, indent=2, default=str),
    )
    own = {
        **spec.env,
        "PULLREKUN_STEPS_FILE": str(private / STEPS_FILE),
        "ANSIBLE_CONFIG": str(config),
        SECRET_NAMES_ENV: ",".join(spec.secrets),
    }
    warm_socket = warm.socket_path()
    if warm_socket is not None:
        own[SOCKET_ENV] = str(warm_socket)  # the guard takes it out before ansible-playbook runs
    (private / "artifacts" / spec.ident).mkdir(mode=0o700)
    stdout_path = private / "artifacts" / spec.ident / "stdout"
    stdout_fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(stdout_fd, "w", encoding="utf-8") as stdout:
        return _run(spec, private, cmd, own, _Events(spec.redact, stdout), cancel or (lambda: False))


def _run(
    spec: RunSpec,
    private: Path,
    cmd: tuple[str, ...],
    own: Mapping[str, str],
    events: _Events,
    cancel: Callable[[], bool],
) -> RunResult:
    from ansible_runner.interface import init_runner  # imported here: `plan` and `status` never need it

    from pullrekun.adapters.playbook import terminal

    terminal.install()

    # ansible-playbook runs under a guard that ends it (and its forks) if this process dies; it is
    # started as playbook_cli, which imports Ansible with the garbage collector paused.
    guard = [
        "-m", "pullrekun.adapters.playbook.guard", str(private / RECORD_NAME), str(os.getpid()), "--",
        sys.executable, "-m", PLAYBOOK_CLI, str(spec.project_dir / spec.playbook),
    ]  # fmt: skip
    idle = [False]

    def stop() -> bool:
        if spec.idle_timeout and events.idle_for() > spec.idle_timeout:
            idle[0] = True
        return idle[0] or cancel()

    artifacts = private / "artifacts"
    try:
        r = init_runner(
            private_data_dir=str(private),
            project_dir=str(spec.project_dir),
            binary=sys.executable,
            cmdline=shlex.join(guard),
            inventory=str(private / "inventory"),
            extravars=dict(spec.extra_vars),
            envvars=dict(own),
            passwords=_secret_answers(spec.secrets),
            artifact_dir=str(artifacts),
            ident=spec.ident,
            timeout=spec.timeout,
            suppress_env_files=True,
            # Facts are never gathered: no per-run cache directory in the run's settings.
            fact_cache_type="memory",
            # The events' text goes to artifacts/<id>/stdout through the handler, redacted.
            suppress_output_file=True,
            quiet=spec.quiet,
            event_handler=events,
            cancel_callback=stop,
        )
        r.config.env = run_environment(r.config.env, own, spec.pass_env)
        r.run()
    except Exception as exc:  # runner set-up errors: report, never crash the pass
        log.exception("ansible-runner failed to start")
        return RunResult(RunStatus.ERROR, None, str(private), str(artifacts), cmd, error=str(exc)[:200])
    status = RunStatus.IDLE if idle[0] and r.status == "canceled" else RunStatus(str(r.status))
    stats: dict[str, dict[str, int]] = r.stats or {}
    steps = read_steps(private / STEPS_FILE)
    failed = set(stats.get("failures", {})) | set(stats.get("dark", {}))
    seen = set(stats.get("processed", {}))
    return RunResult(
        status=status,
        rc=r.rc,
        private_data_dir=str(private),
        artifacts_dir=str(artifacts / spec.ident),
        command=cmd,
        failures=events.failures,
        failed_hosts=frozenset(failed),
        ok_hosts=frozenset(seen - failed) if status is not RunStatus.IDLE else frozenset(),
        output_tail=tuple(events.tail) if status is not RunStatus.SUCCESSFUL else (),
        failed_steps=steps.failed,
        done_steps=steps.done,
        passed_steps=steps.passed,
        error=str(spec.idle_timeout) if status is RunStatus.IDLE else "",
        schema_changes=events.schema_changes,
        started=_read_started(private / START_NAME),
    )


def _read_started(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
