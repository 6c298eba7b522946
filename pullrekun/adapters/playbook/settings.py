"""The environment of a playbook run: pullrekun's Ansible settings, and only the named variables
of the controller's environment (its secrets never reach the run's files)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path


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
        # Runs get pullrekun's YAML inventory only: no other inventory plugin is loaded.
        "ANSIBLE_INVENTORY_ENABLED": "ansible.builtin.yaml",
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
