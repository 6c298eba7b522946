"""`molecule test` for roles/staging against loopback sshd hosts: converge, idempotence, verify."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml
from pullrekun_sandbox.plumbing import free_port
from pullrekun_sandbox.sandbox import GIT_ENV
from pullrekun_sandbox.sshd import SshdHosts

from tests.conftest import run_molecule
from tests.paths import REPO

APP = REPO / "sandbox" / "pullrekun_sandbox" / "app" / "app.py"
#: The app's user of each host. The two hosts are one machine here: a user of their own each, as
#: on two real hosts (both creating one user at once raced: "useradd: user ... already exists").
APP_USERS = {"staging-a": "prk-molecule-a", "staging-b": "prk-molecule-b"}


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
    # Deploy roots the app's user can reach (pytest's tmp is 0700).
    base = Path(f"/var/tmp/pullrekun-molecule-{os.getpid()}")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o755)
    base.chmod(0o755)
    hosts = {
        name: {"ansible_host": addr, "staging_deploy_root": str(base / addr), "staging_app_user": user}
        for (name, user), addr in zip(APP_USERS.items(), addrs, strict=True)
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
                        # Debian's python: the app's user cannot enter root's home (the venv's).
                        "staging_app_command": "/usr/bin/python3 app.py",
                        "staging_app_port": port,
                        "staging_health_timeout": 20,
                        "staging_packages": [],
                        # Bootstrap creates the app's user (per host); the deploy user logs in as root.
                        "staging_deploy_user": "root",
                        "staging_environment": "molecule",
                        "staging_revision_check": "header:X-Revision",
                        # Counts its runs: the idempotence step must not run it again.
                        "staging_migrate_command": "echo run >> ../../shared/data/migrate-runs",
                    },
                }
            }
        )
    )
    try:
        run_molecule("default", inventory, tmp_path)
    finally:
        for addr in addrs:
            appctl = base / addr / "shared" / "appctl"
            if appctl.exists():
                subprocess.run([str(appctl), "stop"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        for user in APP_USERS.values():
            subprocess.run(["userdel", "--remove", user], check=False, capture_output=True)
