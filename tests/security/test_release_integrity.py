"""A release is trusted only while it is as exported (roles/staging's staging_release module).

The module runs for real (as Ansible runs it: its file, with its arguments in a JSON file) on
a release layout in a temporary directory. A release whose REVISION names another commit, or
with an entry someone other than the deploying user could have written, is not trusted: it is
removed and exported again, after its app is stopped if the app ran from it.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.paths import REPO

MODULE = REPO / "roles" / "staging" / "library" / "staging_release.py"
MODULE_UTILS = REPO / "roles" / "staging" / "module_utils"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, str, Path]:
    """(bare repository, its commit, deploy root)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "app.py").write_text("print('the reviewed code')\n")
    (work / "lib").mkdir()
    (work / "lib" / "util.py").write_text("X = 1\n")
    git(work, "add", "-A")
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "app")
    bare = tmp_path / "repo.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare, git(work, "rev-parse", "HEAD"), tmp_path / "srv"


def ensure(repo: Path, sha: str, root: Path, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    args = tmp_path / "args.json"
    params = {"repo": str(repo), "sha": sha, "root": str(root), "activate": True, **extra}
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    # As AnsiballZ runs it: the role's module_utils importable as ansible.module_utils.*.
    run = (
        "import ansible.module_utils as m, runpy, sys; m.__path__.append(sys.argv[1]); "
        "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    out = subprocess.run(
        [sys.executable, "-c", run, str(MODULE_UTILS), str(MODULE), str(args)],
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    assert not result.get("failed"), result
    return result


def test_a_release_is_trusted_while_it_is_as_exported(layout: tuple[Path, str, Path], tmp_path: Path) -> None:
    repo, sha, root = layout
    first = ensure(repo, sha, root, tmp_path)
    assert first["created"]
    release = root / "releases" / sha
    # Exported for the deploying user alone, whatever git's default umask.
    assert oct((release / "app.py").stat().st_mode & 0o777) == "0o644"
    assert oct((release / "lib").stat().st_mode & 0o777) == "0o755"
    again = ensure(repo, sha, root, tmp_path)
    assert again["reexported"] == ""
    assert not again["changed"]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("group-writable", "lib/util.py is writable by others than the deploying user"),
        ("foreign-owner", "app.py belongs to uid"),
        ("revision", "its REVISION names another commit"),
    ],
)
def test_an_untrusted_release_is_exported_again_after_its_app_is_stopped(
    layout: tuple[Path, str, Path], tmp_path: Path, tamper: str, reason: str
) -> None:
    repo, sha, root = layout
    ensure(repo, sha, root, tmp_path)
    release = root / "releases" / sha
    stopped = tmp_path / "stopped"
    appctl = root / "shared" / "appctl"
    appctl.write_text(f'#!/bin/sh\necho "$1" >> {stopped}\necho stopped\n')
    appctl.chmod(0o755)
    (release / "app.py").write_text("print('planted')\n")  # what a writer could have done
    if tamper == "group-writable":
        (release / "lib" / "util.py").chmod(0o664)
    elif tamper == "foreign-owner":
        need(None if os.getuid() == 0 else "changing a file's owner needs root (CI runs as root)")
        nobody = pwd.getpwnam("nobody")
        os.chown(release / "app.py", nobody.pw_uid, nobody.pw_gid)
    else:
        (release / "REVISION").write_text("0" * 40 + "\n")

    result = ensure(repo, sha, root, tmp_path)

    assert result["reexported"].startswith(reason), result["reexported"]
    assert result["created"]
    assert (release / "app.py").read_text() == "print('the reviewed code')\n"
    assert (release / "REVISION").read_text().strip() == sha
    assert (release / "app.py").stat().st_uid == os.getuid()
    assert stopped.read_text() == "stop\n", "the app ran from the untrusted release: stopped first"
    assert os.readlink(root / "current") == str(release)
