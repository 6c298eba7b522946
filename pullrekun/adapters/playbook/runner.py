"""The one module that calls ansible-runner.

Each run gets a fresh private data dir under the artifacts root (so ansible-runner
never reuses another run's ``env/`` files), an inventory written by the caller, extra
vars passed as a dict, a timeout, a cancel callback and a cheap event handler that
keeps, per host, the first failure (task, message, last lines of output). The run's
status becomes a typed :class:`RunResult` that says what happened in words.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shlex
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from pullrekun.adapters.playbook.guard import RECORD_NAME, SECRET_NAMES_ENV, SECRET_PROMPT
from pullrekun.core.redact import cap_output
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
        self.tail: deque[str] = deque(maxlen=15)
        self._redact = redact
        self._stdout = stdout

    def __call__(self, event: dict[str, Any]) -> bool:
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


def ssh_control_dir(state_dir: Path) -> Path:
    """Where the SSH masters of one state directory live (short: socket paths are limited to 108)."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"pullrekun-cp-{os.getuid()}-{digest}"


def ansible_env(
    project_dir: Path, state_dir: Path, forks: int, ssh_common_args: str, known_hosts: Path | None = None
) -> dict[str, str]:
    """Settings for every run: fast SSH (pipelining + ControlPersist), files kept out of ~.

    Host keys are pinned in ``known_hosts`` (pullrekun's own file): each host is checked under
    the alias its inventory gives it (the instance id), its key learned on first contact and
    required from then on. These options come first, so none in ``ssh_common_args`` wins.
    """
    bindir = str(Path(sys.executable).parent)
    callbacks = str(project_dir / "playbooks" / "callback_plugins")
    control_dir = ssh_control_dir(state_dir)
    control_dir.mkdir(mode=0o700, exist_ok=True)
    ssh_args = "-o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=15"
    if known_hosts is not None:
        ssh_args = (
            f"-o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null "
            f"-o StrictHostKeyChecking=accept-new -o HashKnownHosts=no {ssh_args}"
        )
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
        # Checked by ssh itself (StrictHostKeyChecking above): Ansible must not add "=no".
        "ANSIBLE_HOST_KEY_CHECKING": "True" if known_hosts is not None else "False",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_TIMEOUT": "20",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    }


#: What a playbook run may take from the controller's environment besides pullrekun's settings:
#: nothing else reaches it, and nothing secret is among these (they are in its run directory).
PASSED_ENV = frozenset(
    {
        "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SSH_AUTH_SOCK",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_CA_BUNDLE",
        "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_STS_REGIONAL_ENDPOINTS", "AWS_EC2_METADATA_DISABLED", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    }
)  # fmt: skip


def run_environment(
    runner_env: Mapping[str, str], own: Mapping[str, str], pass_env: frozenset[str]
) -> dict[str, str]:
    """The run's whole environment: pullrekun's settings (``own``), what ansible-runner adds for its
    callbacks, and only the named variables of the controller's environment.

    ansible-runner starts from a copy of ``os.environ`` and records what it hands the run in
    ``artifacts/<id>/command``; without this, every secret of the controller would be on disk.
    """
    parent = os.environ
    allowed = PASSED_ENV | pass_env
    env = {}
    for key, value in runner_env.items():
        inherited = key in parent and parent[key] == value and key not in own
        if not inherited or key in allowed or key.startswith("LC_"):
            env[key] = value
    return env


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
    secrets: Mapping[str, str] | None = None,
    pass_env: frozenset[str] = frozenset(),
    redact: Callable[[str], str] = str,
) -> RunResult:
    """Run one playbook; never raises for playbook failures (they are in the result).

    ``secrets`` (name -> value) reach ansible-playbook's environment in memory only: the guard
    asks for each on its terminal and ansible-runner answers. The run directory (mode 0700, its
    files 0600) holds names, never values; every event and the ``stdout`` file are written through
    ``redact``.
    """
    private = artifacts_root / ident
    _private_dir(artifacts_root)
    private.mkdir(mode=0o700)
    (private / "inventory").mkdir(mode=0o700)
    (private / "artifacts").mkdir(mode=0o700)
    _private_file(private / "inventory" / "hosts.yml", dump_inventory(inventory))
    for name, content in (files or {}).items():
        _private_file(private / name, content)
    cmd = ("ansible-playbook", "-i", str(private / "inventory"), str(project_dir / playbook))
    # ansible-playbook runs under a guard that ends it (and its forks) if this process dies.
    guard = [
        "-m", "pullrekun.adapters.playbook.guard", str(private / RECORD_NAME), str(os.getpid()), "--",
        "ansible-playbook", str(project_dir / playbook),
    ]  # fmt: skip
    # The run's settings are the environment's (ansible_env): no ansible.cfg in the working
    # directory, the home directory or /etc/ansible changes what a pass does.
    config = private / "ansible.cfg"
    _private_file(config, "# Empty on purpose: pullrekun passes its settings as environment variables.\n")
    # Enough to replay by hand: ansible-playbook -i <run>/inventory <playbook> -e @<run>/extravars.json
    _private_file(private / "extravars.json", json.dumps(dict(extra_vars), indent=2))
    _private_file(
        private / "command.json",
        json.dumps({"command": cmd, "extra_vars": dict(extra_vars)}, indent=2, default=str),
    )
    own = {
        **env,
        "PULLREKUN_STEPS_FILE": str(private / STEPS_FILE),
        "ANSIBLE_CONFIG": str(config),
        SECRET_NAMES_ENV: ",".join(secrets or {}),
    }
    artifacts = private / "artifacts"
    (artifacts / ident).mkdir(mode=0o700)
    stdout_fd = os.open(artifacts / ident / "stdout", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(stdout_fd, "w", encoding="utf-8") as stdout:
        return _run(
            private, project_dir, guard, cmd, own, secrets or {}, pass_env, timeout, quiet, cancel,
            _Events(redact, stdout), ident, extra_vars,
        )  # fmt: skip


def _run(
    private: Path,
    project_dir: Path,
    guard: list[str],
    cmd: tuple[str, ...],
    own: Mapping[str, str],
    secrets: Mapping[str, str],
    pass_env: frozenset[str],
    timeout: int,
    quiet: bool,
    cancel: Callable[[], bool] | None,
    events: _Events,
    ident: str,
    extra_vars: Mapping[str, Any],
) -> RunResult:
    from ansible_runner.interface import init_runner  # imported here: `plan` and `status` never need it

    artifacts = private / "artifacts"
    try:
        r = init_runner(
            private_data_dir=str(private),
            project_dir=str(project_dir),
            binary=sys.executable,
            cmdline=shlex.join(guard),
            inventory=str(private / "inventory"),
            extravars=dict(extra_vars),
            envvars=dict(own),
            passwords=_secret_answers(secrets),
            artifact_dir=str(artifacts),
            ident=ident,
            timeout=timeout,
            suppress_env_files=True,
            # The events' text goes to artifacts/<id>/stdout through the handler, redacted.
            suppress_output_file=True,
            quiet=quiet,
            event_handler=events,
            cancel_callback=cancel or (lambda: False),
        )
        r.config.env = run_environment(r.config.env, own, pass_env)
        r.run()
    except Exception as exc:  # runner set-up errors: report, never crash the pass
        log.exception("ansible-runner failed to start")
        return RunResult("error: " + str(exc)[:200], None, str(private), str(artifacts), cmd)
    stats: dict[str, dict[str, int]] = r.stats or {}
    tail = tuple(events.tail) if r.status != "successful" else ()
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
