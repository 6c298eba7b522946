"""`molecule test -s controller`: roles/controller installs the built wheel and its config on a
loopback sshd host; the installed pullrekun then plans against the test world with the
installed config, as its systemd service would (no systemd runs here: units are written only).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pullrekun_sandbox.sandbox import TOKEN, Sandbox
from pullrekun_sandbox.sshd import SshdHosts

from tests.conftest import LOCAL_FIRST_HOST, controller_account, run_molecule

USER = "pullrekun-molecule"


@pytest.fixture
def controller_home() -> Iterator[Path]:
    with controller_account(USER) as home:
        yield home


def _host_key(hosts: SshdHosts) -> str:
    """One of the sshd hosts' public host keys ("<type> <base64>")."""
    kind, key = (hosts.root / "host_ed25519.pub").read_text().split()[:2]
    return f"{kind} {key}"


def test_molecule_controller_installs_the_wheel_and_the_installed_pullrekun_plans(
    tmp_path: Path, sshd_hosts: SshdHosts, built_wheel: Path, controller_home: Path, wheelhouse: Path
) -> None:
    sb = Sandbox(root=tmp_path / "world", hosts=2, first_host=LOCAL_FIRST_HOST).start()
    try:
        _, sha = sb.open_pr("ctl", "planned by the installed controller")
        config = sb.config_dict()
        config["state"] = {"url": f"sqlite:///{controller_home}/state/pullrekun.db"}
        config["ansible"]["artifacts_dir"] = str(controller_home / "state" / "artifacts")
        # A top-level key and a map: the shapes a template of `key = value | to_json` lines broke.
        config["failed_retry_after"] = 600
        config["database"] = {
            "default_source": "dev_shared",
            "authors": {"alice": "dev_alice", "bob": "dev_bob"},
        }
        inventory = tmp_path / "inventory.yml"
        host = {
            "ansible_host": sshd_hosts.addrs[0],
            "ansible_user": sshd_hosts.user,
            "ansible_ssh_private_key_file": str(sshd_hosts.private_key),
            "ansible_become_method": "su",
        }
        variables = {
            "controller_user": USER,
            "controller_home": str(controller_home),
            "controller_wheel": str(built_wheel),
            "controller_config": config,
            "controller_environment": {
                "PULLREKUN_GITHUB_TOKEN": TOKEN,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            },
            "controller_start_units": False,
            # This machine has no sudo and no network for apt: become goes through su (host vars).
            "controller_packages": [],
            # Tests skip byte-compiling the venv (ansible's 30,000 files): a third of the time;
            # the dependencies come from the run's wheelhouse (the user's pip has no cache).
            "controller_pip_extra_args": ["--no-compile", "--no-index", "--find-links", str(wheelhouse)],
            "controller_ssh_private_key": sshd_hosts.private_key.read_text(),
            "controller_known_hosts": [f"{sshd_hosts.addrs[1]} {_host_key(sshd_hosts)}"],
            "controller_systemd_dir": str(tmp_path / "systemd"),
            "verify_expected_sha": sha,
        }
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"controller": host}, "vars": variables}}))
        (tmp_path / "systemd").mkdir()
        run_molecule("controller", inventory, tmp_path)
        installed = controller_home / "venv" / "bin" / "pullrekun"
        version = subprocess.run([str(installed), "--version"], capture_output=True, text=True, check=True)
        assert built_wheel.name.split("-")[1] in version.stdout, "the venv runs the wheel that was built"
        # `pullrekun serve` is installed with its web stack, and its unit is written beside the timer's.
        python = controller_home / "venv" / "bin" / "python"
        subprocess.run([str(python), "-c", "import pullrekun.web.serve"], check=True, capture_output=True)
        unit = (tmp_path / "systemd" / "pullrekun-serve.service").read_text()
        assert f"ExecStart={installed} serve" in unit
    finally:
        sb.stop()
