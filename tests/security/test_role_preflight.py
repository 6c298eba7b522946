"""The staging role refuses a service name that is not a plain unit name before it writes
anything (the name goes into a sudoers rule)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO


def test_a_hostile_service_name_stops_the_role_before_it_changes_anything(tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: staging\n")
    hostile = "app ALL=(ALL) NOPASSWD: ALL"
    extra = {
        "staging_action": "stop",
        "staging_service_name": hostile,
        "staging_deploy_root": str(tmp_path / "root"),
        "ansible_python_interpreter": sys.executable,
    }
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_HOME": str(tmp_path / "home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    out = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra), str(playbook)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode != 0
    assert "staging_service_name must be a systemd unit name" in out.stdout, out.stdout[-3000:]
    assert not (tmp_path / "root").exists(), "nothing was written"
