"""`molecule test` for roles/staging against loopback sshd hosts: converge, idempotence, verify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from pullrekun_sandbox.sandbox import GIT_ENV, free_port
from pullrekun_sandbox.sshd import SshdHosts
from tests.conftest import run_molecule
from tests.paths import REPO

APP = REPO / "pullrekun_sandbox" / "app" / "app.py"


def _repo(root: Path) -> tuple[Path, str]:
    work, bare = root / "work", root / "app.git"
    env = {**os.environ, **GIT_ENV}

    def git(*args: str, cwd: Path = work) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, check=True, text=True, capture_output=True
        ).stdout.strip()

    work.mkdir(parents=True)
    git("init", "-q", "-b", "main")
    (work / "app.py").write_text(APP.read_text())
    git("add", "-A")
    git("commit", "-q", "-m", "app")
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return bare, git("rev-parse", "HEAD")


def test_molecule_converge_idempotence_verify(tmp_path: Path, sshd_hosts: SshdHosts) -> None:
    bare, sha = _repo(tmp_path)
    addrs = sshd_hosts.addrs[:2]
    net, first = addrs[0].rsplit(".", 1)
    port = free_port(int(first), len(addrs), net)
    hosts = {
        name: {"ansible_host": addr, "staging_deploy_root": str(tmp_path / "hosts" / addr)}
        for name, addr in zip(["staging-a", "staging-b"], addrs, strict=True)
    }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": hosts,
                    "vars": {
                        "ansible_user": sshd_hosts.user,
                        "ansible_ssh_private_key_file": str(sshd_hosts.private_key),
                        "staging_repo_url": str(bare),
                        "staging_sha": sha,
                        "staging_service_manager": "start-stop-daemon",
                        "staging_app_command": f"{sys.executable} app.py",
                        "staging_app_port": port,
                        "staging_health_timeout": 20,
                        "staging_packages": [],
                        "staging_app_user": "root",
                        "staging_deploy_user": "root",
                        "staging_environment": "molecule",
                        "staging_revision_check": "header:X-Revision",
                        # Counts its runs: the idempotence step must not run it again.
                        "staging_migrate_command": "echo run >> ../../shared/migrate-runs",
                    },
                }
            }
        )
    )
    try:
        run_molecule("default", inventory, tmp_path)
    finally:
        for addr in addrs:
            appctl = tmp_path / "hosts" / addr / "shared" / "appctl"
            if appctl.exists():
                subprocess.run([str(appctl), "stop"], check=False, capture_output=True)
