"""The README's production walkthrough, run as written against the test world.

The commands are the README's own code blocks under "Using it for real", run with bash in a
copy of the checkout. The files the README says to copy from examples/ and edit are copied and
edited here the way an operator would (the values marked EDIT). AWS is moto (AWS_ENDPOINT_URL),
the instances are tagged with loopback sshd addresses, GitHub is the simulator. No systemd
runs here: the controller writes its units without starting them, and the test then runs the
installed service's command itself, as the controller user, with the installed config.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pullrekun_sandbox.sandbox import TOKEN
from pullrekun_sandbox.sshd import SshdHosts

from tests.conftest import controller_account, ssh_world
from tests.paths import REPO

#: Not the controller scenario's user: the two tests may run at once on two workers.
USER = "pullrekun-walkthrough"


@pytest.fixture
def controller_home() -> Iterator[Path]:
    with controller_account(USER) as home:
        yield home


def readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using it for real") : text.index("## Command line")]
    return [re.sub(r"\n\s+", "\n", b).strip() for b in re.findall(r"```sh\n(.*?)```", section, re.S)]


def readme_launch_config() -> dict[str, Any]:
    """The `controller_config` keys the walkthrough's "let pullrekun launch them" shows."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using it for real") : text.index("## Command line")]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    found: dict[str, Any] = yaml.safe_load(textwrap.dedent(block))
    return found


def _checkout(dest: Path) -> Path:
    """The checkout as an operator has it (tracked and new files; no build output)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def _edit(src: Path, dest: Path, changes: dict[str, Any]) -> None:
    data = yaml.safe_load(src.read_text())
    data.update(changes)
    dest.write_text(yaml.safe_dump(data))


def _bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert out.returncode == 0, f"$ {script}\n{(out.stdout + out.stderr)[-6000:]}"
    return out.stdout


def test_the_production_walkthrough_reaches_ready_environments(
    tmp_path: Path,
    sshd_hosts: SshdHosts,
    controller_home: Path,
    wheelhouse: Path,
    ansible_ssh_env: dict[str, str],
) -> None:
    bootstrap, install = readme_blocks()
    assert bootstrap == "ansible-playbook playbooks/staging.yml -e @staging-vars.yml"
    checkout = _checkout(tmp_path / "checkout")
    # Two instances tagged by hand, and room for one launched from a template: three PRs.
    sb = ssh_world(sshd_hosts, tmp_path / "world", hosts=2, launch_hosts=1).start()
    try:
        heads = dict(sb.open_pr(f"walk-{i}", f"walkthrough {i}") for i in (1, 2, 3))
        ec2 = sb.ec2()
        ec2.start_instances(InstanceIds=sb.instance_ids)  # "start them for this"
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "AWS_ENDPOINT_URL": sb.ec2_url,
            "AWS_REGION": "us-east-1",
            # The README's host key policy (accept-new), in a known_hosts file of this test's own.
            **ansible_ssh_env,
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        }
        cfg = sb.config_dict()
        _edit(
            checkout / "examples" / "staging-vars.yml",
            checkout / "staging-vars.yml",
            {
                "ansible_user": sshd_hosts.user,
                "ansible_ssh_private_key_file": str(sshd_hosts.private_key),
                "ansible_become_method": "su",
                # This machine's interpreter discovery finds a pyenv shim; the hosts have /usr/bin/python3.
                "ansible_python_interpreter": "/usr/bin/python3",
                "staging_repo_url": cfg["app"]["repo_url"],
                "staging_app_command": cfg["app"]["command"],
                "staging_app_port": cfg["app"]["port"],
                # The hosts are directories under pytest's private tmp: one user (the sandbox's
                # run_user is empty too). tests/security/test_staging_isolation.py splits them.
                "staging_app_user": sshd_hosts.user,
                "staging_deploy_user": sshd_hosts.user,
                "staging_deploy_root": str(sb.root / "hosts") + "/{{ ansible_host }}/app",
                "staging_service_manager": "start-stop-daemon",
                "staging_packages": [],
                "staging_controller_public_key": Path(f"{sshd_hosts.private_key}.pub").read_text().strip(),
            },
        )
        # The hand-tagged instances only: the launched one is bootstrapped by the pass that launches it.
        _bash(bootstrap, checkout, env)
        wheel = "dist/pullrekun-0.1.0.dev0-py3-none-any.whl"  # a copy without .git: the fallback version
        # "Or let pullrekun launch them": the README's keys, its EDIT values made this world's.
        launching = readme_launch_config()
        assert launching["ec2"]["launch_template"] == "pullrekun-staging"
        launching["ec2"]["launch_template"] = cfg["ec2"]["launch_template"]
        launching["bootstrap"]["vars"]["staging_controller_public_key"] = (
            Path(f"{sshd_hosts.private_key}.pub").read_text().strip()
        )
        cfg["ec2"].update(launching["ec2"])
        # This world's hosts: one user (root) and no sudo, as for the hand-tagged ones above.
        cfg["bootstrap"] = {
            "vars": {**cfg["bootstrap"]["vars"], **launching["bootstrap"]["vars"]},
            "become": False,
        }
        cfg["state"] = {"url": f"sqlite:///{controller_home}/state/pullrekun.db"}
        cfg["ansible"].update(
            artifacts_dir=f"{controller_home}/state/artifacts",
            ssh_user=sshd_hosts.user,
            ssh_private_key=f"{controller_home}/.ssh/id_ed25519",
        )
        _edit(
            checkout / "examples" / "controller-vars.yml",
            checkout / "controller-vars.yml",
            {
                "controller_wheel": wheel,
                "controller_user": USER,
                "controller_home": str(controller_home),
                "controller_config": cfg,
                "controller_environment": {
                    "PULLREKUN_GITHUB_TOKEN": TOKEN,
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                },
                "controller_ssh_private_key": sshd_hosts.private_key.read_text(),
                "controller_start_units": False,
                # This machine has no sudo and no network for apt: become goes through su (host vars).
                "controller_packages": [],
                # Tests skip byte-compiling the venv (ansible's 30,000 files): a third of the time;
                # the dependencies come from the run's wheelhouse (the user's pip has no cache).
                "controller_pip_extra_args": ["--no-compile", "--no-index", "--find-links", str(wheelhouse)],
                "controller_systemd_dir": str(tmp_path / "systemd"),
            },
        )
        (tmp_path / "systemd").mkdir()
        hosts = yaml.safe_load((checkout / "examples" / "controller-hosts.yml").read_text())
        hosts["pullrekun_controller"]["hosts"]["controller"] = {
            "ansible_host": sshd_hosts.addrs[-1],
            "ansible_user": sshd_hosts.user,
            "ansible_ssh_private_key_file": str(sshd_hosts.private_key),
            "ansible_become_method": "su",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        (checkout / "examples" / "controller-hosts.yml").write_text(yaml.safe_dump(hosts))
        _bash(install, checkout, env)
        unit = (tmp_path / "systemd" / "pullrekun.service").read_text()
        exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M)
        assert exec_start is not None
        # What systemd would run: the unit's command, as its user, in its directory, with its files.
        service = (
            f"set -a && . {controller_home}/etc/environment && set +a && cd {controller_home}/state && "
            f"PULLREKUN_CONFIG={controller_home}/etc/pullrekun.toml {exec_start.group(1)}"
        )
        out = subprocess.run(
            ["su", "-s", "/bin/bash", USER, "-c", service],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        for sha in heads.values():
            state, description = sb.github.status_states(sha)[-1]
            assert state == "success", description
            assert description.startswith("Preview ready"), description
        (launched,) = sb.launched()
        served = {sb.served(addr) for addr in [*sb.host_addrs, sb.addr_of(launched)]}
        assert set(heads.values()) <= served
    finally:
        sb.stop()
