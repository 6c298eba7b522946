"""pullrekun installs as a real package: the wheel alone, in a fresh venv, outside any checkout.

The wheel carries the Ansible project (playbooks, roles, inventory) and the message templates;
``pullrekun sandbox`` from the installed wheel runs a whole pass and serves its PRs' commits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.paths import REPO

PACKAGED = [
    "pullrekun/_project/playbooks/reconcile.yml",
    "pullrekun/_project/playbooks/library/pullrekun_schema_clone.py",
    "pullrekun/_project/roles/staging/tasks/deploy.yml",
    "pullrekun/_project/roles/staging/library/staging_release.py",
    "pullrekun/_project/roles/staging/module_utils/staging_layout.py",
    "pullrekun/_project/roles/controller/tasks/main.yml",
    "pullrekun/_project/inventory/aws_ec2.yml",
    "pullrekun/_project/templates/comment.md.j2",
    "pullrekun/_project/templates/web/environments.html.j2",
    "pullrekun/_project/templates/web/static/live.js",
    "pullrekun/_project/playbooks/filter_plugins/pullrekun_db.py",
    "pullrekun/_project/roles/staging/templates/as-app.sh.j2",
    "pullrekun/_project/roles/controller/templates/pullrekun-serve.service.j2",
    "pullrekun/adapters/state/migrations/versions/0001_initial.py",
]


@pytest.fixture(scope="module")
def installed(built_wheel: Path, built_sandbox_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (not the test's own) with the wheel and the sandbox's: its bin dir.

    Installed by uv, which links files from its cache (ansible's 30,000 files in 2 s, where pip
    takes 27 s): what is tested here is the wheel, installed on its own. The installation with
    pip, as the README says, is the walkthrough's (through the controller role)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    base = sys._base_executable  # type: ignore[attr-defined]
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(built_wheel),
            str(built_sandbox_wheel),
        ],
        check=True,
        timeout=600,
    )
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    """The environment without this test run's venv or source tree on any path."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    return env


def test_the_wheel_carries_the_ansible_project_and_templates(built_wheel: Path) -> None:
    names = set(zipfile.ZipFile(built_wheel).namelist())
    missing = [n for n in PACKAGED if n not in names]
    assert missing == []
    assert not [n for n in names if n.startswith("tests/")]
    assert not [n for n in names if n.startswith("pullrekun_sandbox/")], "the test world is not the product"


def test_the_sandbox_is_a_distribution_of_its_own(built_sandbox_wheel: Path) -> None:
    names = set(zipfile.ZipFile(built_sandbox_wheel).namelist())
    assert "pullrekun_sandbox/app/app.py" in names
    assert not [n for n in names if n.startswith("pullrekun/")]


def test_the_installed_package_runs_a_sandbox_pass_outside_any_checkout(
    installed: Path, tmp_path: Path
) -> None:
    version = subprocess.run(
        [str(installed / "pullrekun"), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert version.stdout.startswith("pullrekun 0.") or version.stdout.startswith("pullrekun 1.")
    where = subprocess.run(
        [str(installed / "python"), "-c", "from pullrekun.adapters.project import shipped; print(shipped())"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=_clean_env(),
    )  # fmt: skip
    shipped = Path(where.stdout.strip())
    assert shipped.is_relative_to(installed.parent), shipped  # the venv's copy, not the checkout
    assert not shipped.is_relative_to(REPO)
    out = subprocess.run(
        [str(installed / "pullrekun"), "sandbox", "--dir", str(tmp_path / "sb"), "--hosts", "2"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=_clean_env(),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "sandbox: every open PR serves its head commit" in out.stdout
    checks = [line for line in out.stdout.splitlines() if line.strip().startswith("[")]
    assert len(checks) == 2, checks
    assert all("[ok ]" in line for line in checks), checks
