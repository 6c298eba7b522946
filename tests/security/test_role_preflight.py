"""The staging role refuses bad input before it writes anything: a service name that is not a
plain unit name (it goes into a sudoers rule), and a deploy's sha, app.env names and values,
command and revision check; every problem is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO


def _play(tmp_path: Path, extra: dict[str, object], entry: str = "main") -> subprocess.CompletedProcess[str]:
    """The role on localhost through an entry point: main, or release (reconcile.yml's deploys)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.import_role:\n"
        f"        name: staging\n        tasks_from: {entry}\n"
    )
    extra = {
        **extra,
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
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra), str(playbook)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_hostile_service_name_stops_the_role_before_it_changes_anything(tmp_path: Path) -> None:
    hostile = "app ALL=(ALL) NOPASSWD: ALL"
    out = _play(tmp_path, {"staging_action": "stop", "staging_service_name": hostile})
    assert out.returncode != 0
    assert "staging_service_name must be a systemd unit name" in out.stdout, out.stdout[-3000:]
    assert not (tmp_path / "root").exists(), "nothing was written"


@pytest.mark.parametrize("entry", ["main", "release"])
def test_a_deploys_bad_input_is_refused_with_every_problem_named(tmp_path: Path, entry: str) -> None:
    out = _play(
        tmp_path,
        {
            "staging_action": "deploy",
            "staging_sha": "HEAD; rm -rf /",
            "staging_repo_url": "https://example.invalid/app.git",
            "staging_app_env": {"DB_PASSWORD": "mine now", "FEATURE": "on\nEVIL=1"},
            "staging_app_command": "",
            "staging_revision_check": "shell:id",
        },
        entry,
    )
    assert out.returncode != 0
    for said in (
        "staging_sha must be 40 lowercase hex characters",
        "got sha HEAD; rm -rf /, names ['DB_PASSWORD', 'FEATURE']",
        "staging_app_command is required",
        "staging_revision_check must be 'process', 'header:<Name>' or 'json:<field>' (got shell:id)",
    ):
        assert said in out.stdout, (said, out.stdout[-3000:])
    assert "staging_service_name" not in out.stdout, "only the problems are named"
    assert not (tmp_path / "root").exists(), "nothing was written"


@pytest.mark.parametrize("entry", ["main", "release"])
def test_an_app_env_value_of_two_lines_is_refused(tmp_path: Path, entry: str) -> None:
    good = {
        "staging_action": "deploy",
        "staging_sha": "a" * 40,
        "staging_repo_url": "https://example.invalid/app.git",
        "staging_app_command": "./run",
    }
    out = _play(
        tmp_path, {**good, "staging_app_env": {"FEATURE": "on\nEVIL=1", "URL": "http://x/pr/1"}}, entry
    )
    assert out.returncode != 0
    assert "to one-line values (got sha " + "a" * 40 + ", names ['FEATURE', 'URL'])" in out.stdout, (
        out.stdout[-3000:]
    )
    assert not (tmp_path / "root").exists(), "nothing was written"


@pytest.mark.parametrize("entry", ["main", "release"])
def test_an_input_of_the_wrong_type_is_refused_by_the_argument_spec(tmp_path: Path, entry: str) -> None:
    good = {
        "staging_sha": "a" * 40,
        "staging_repo_url": "https://example.invalid/app.git",
        "staging_app_command": "./run",
    }
    out = _play(tmp_path, {**good, "staging_app_port": "8000; id"}, entry)
    assert out.returncode != 0
    said = "argument 'staging_app_port' is of type str and we were unable to convert to int"
    assert said in out.stdout, out.stdout[-3000:]
    assert f'"argument_spec_name": "{entry}"' in out.stdout, "the entry point's own spec refused it"
    assert not (tmp_path / "root").exists(), "nothing was written"
