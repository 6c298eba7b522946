"""The staging bootstrap checks its prerequisites before it changes anything on the host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.paths import REPO

PLAY = [
    {
        "name": "Bootstrap",
        "hosts": "all",
        "gather_facts": False,
        "roles": [{"role": "staging", "vars": {"staging_action": "bootstrap"}}],
    }
]


def _bootstrap(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "staging_deploy_root": str(tmp_path / "root"),
        "staging_service_manager": "start-stop-daemon",
        "staging_app_user": "root",
        "staging_deploy_user": "root",
        "staging_packages": [],
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"h1": host}}}))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": path,  # what the host's shell finds: the raw check looks for python3 on it
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
    }
    playbook = str(Path(sys.executable).parent / "ansible-playbook")
    return subprocess.run(
        [sys.executable, playbook, "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_host_without_python3_is_refused_before_anything_changes(tmp_path: Path) -> None:
    (tmp_path / "emptybin").mkdir()
    out = _bootstrap(tmp_path, str(tmp_path / "emptybin"))
    assert out.returncode != 0
    assert "h1 has no python3: install it first" in out.stdout
    assert "Nothing was changed." in out.stdout
    assert not (tmp_path / "root").exists(), "the deploy root was not created"


def test_a_host_with_python3_is_bootstrapped(tmp_path: Path) -> None:
    out = _bootstrap(tmp_path, os.environ["PATH"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "root" / "releases").is_dir()
