"""A run's module payloads carry bytecode compiled on the controller, and the host imports it
(pullrekun.adapters.playbook.bytecode): no module run compiles Ansible's module_utils again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from tests.conftest import LOCAL_FIRST_HOST, run_pass

#: A module that says which files its imports came from.
WHEREAMI = """
import sys
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={})
    module.exit_json(basic=sys.modules["ansible.module_utils.basic"].__file__)


if __name__ == "__main__":
    main()
"""

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Say where the imports came from.
      whereami:
      register: where
    - name: Show it.
      ansible.builtin.debug:
        msg: "BASIC={{ where.basic }}"
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "library").mkdir(exist_ok=True)
    (tmp_path / "library" / "whereami.py").write_text(WHEREAMI)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    return subprocess.run(
        [sys.executable, "-m", "pullrekun.adapters.playbook.playbook_cli", "-i", "localhost,", "-c", "local",
         "-e", json.dumps({"ansible_python_interpreter": "/usr/bin/python3"}), str(tmp_path / "play.yml")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "ANSIBLE_LIBRARY": str(tmp_path / "library"), "ANSIBLE_PIPELINING": "1",
             "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-tmp"), **env},
    )  # fmt: skip


def test_the_host_imports_the_controllers_bytecode(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    (line,) = [ln for ln in out.stdout.splitlines() if "BASIC=" in ln]
    assert line.rstrip('"').endswith("ansible/module_utils/basic.pyc"), line


def test_the_payload_keeps_its_sources_beside_the_bytecode(tmp_path: Path) -> None:
    remote = tmp_path / "remote-tmp"
    out = _run(
        tmp_path, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0", ANSIBLE_REMOTE_TMP=str(remote)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (wrapper,) = remote.glob("*/AnsiballZ_whereami.py")
    exploded = subprocess.run(
        ["/usr/bin/python3", str(wrapper), "explode"],
        capture_output=True,
        text=True,
        check=True,
        cwd=wrapper.parent,
    )
    assert "Module expanded" in exploded.stdout, exploded.stdout
    names = {
        str(p.relative_to(wrapper.parent / "debug_dir"))
        for p in (wrapper.parent / "debug_dir").rglob("*.py*")
    }
    sources = {n for n in names if n.endswith(".py")}
    assert "ansible/module_utils/basic.py" in sources
    assert {n + "c" for n in sources} <= names, "every source has its bytecode beside it"
    assert zipfile.is_zipfile(wrapper) is False  # the wrapper is a script; the zip is inside it


def test_each_source_is_compiled_once_and_kept_for_later_runs(tmp_path: Path) -> None:
    assert _run(tmp_path).returncode == 0
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "local-tmp" / "pullrekun-bytecode").glob("*.pyc")}
    assert len(kept) > 10, "the module's and module_utils' bytecode is kept beside the runs' temp dirs"
    out = _run(tmp_path)
    assert out.returncode == 0
    assert "basic.pyc" in out.stdout
    again = {p: p.stat().st_mtime_ns for p in (tmp_path / "local-tmp" / "pullrekun-bytecode").glob("*.pyc")}
    assert again == kept, "the second run compiled nothing"


#: A module whose answer comes from a module_util (ANSIBLE_MODULE_UTILS) the test rewrites.
ASKHELPER = """
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pk_helper import answer


def main():
    AnsibleModule(argument_spec={}).exit_json(answer=answer())


if __name__ == "__main__":
    main()
"""

HELPER_ALONE = "def answer():\n    return 'alone'\n"
HELPER_WITH_EXTRA = "from ansible.module_utils.pk_extra import EXTRA\n\n\ndef answer():\n    return EXTRA\n"


def _ask(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "library").mkdir(exist_ok=True)
    (tmp_path / "library" / "askhelper.py").write_text(ASKHELPER)
    (tmp_path / "ask.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Ask the helper.\n      askhelper:\n      register: asked\n"
        "    - name: Show it.\n      ansible.builtin.debug:\n        msg: 'ANSWER={{ asked.answer }}'\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "pullrekun.adapters.playbook.playbook_cli", "-i", "localhost,", "-c", "local",
         "-e", json.dumps({"ansible_python_interpreter": "/usr/bin/python3"}), str(tmp_path / "ask.yml")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "ANSIBLE_LIBRARY": str(tmp_path / "library"), "ANSIBLE_PIPELINING": "1",
             "ANSIBLE_MODULE_UTILS": str(tmp_path / "module_utils"),
             "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local-tmp")},
    )  # fmt: skip


def test_a_later_run_reads_the_kept_imports_instead_of_parsing(tmp_path: Path) -> None:
    assert _run(tmp_path).returncode == 0
    kept_dir = tmp_path / "local-tmp" / "pullrekun-imports"
    kept = {p: p.stat().st_mtime_ns for p in kept_dir.glob("*.json")}
    assert len(kept) > 10, "the module's and its module_utils' imports are kept"
    out = _run(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "basic.pyc" in out.stdout, "the payload still carries what the module imports"
    assert {p: p.stat().st_mtime_ns for p in kept_dir.glob("*.json")} == kept, "nothing was parsed again"


def test_a_module_util_that_changed_is_scanned_again(tmp_path: Path) -> None:
    """Kept by content: a helper that now imports another module_util brings it into the payload."""
    utils = tmp_path / "module_utils"
    utils.mkdir()
    (utils / "pk_helper.py").write_text(HELPER_ALONE)
    first = _ask(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ANSWER=alone" in first.stdout
    (utils / "pk_extra.py").write_text("EXTRA = 'extra'\n")
    (utils / "pk_helper.py").write_text(HELPER_WITH_EXTRA)
    second = _ask(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "ANSWER=extra" in second.stdout


def test_a_module_util_that_does_not_parse_fails_as_ansible_says(tmp_path: Path) -> None:
    utils = tmp_path / "module_utils"
    utils.mkdir()
    (utils / "pk_helper.py").write_text("def answer(:\n")
    for _ in range(2):  # nothing of it was kept: the second run says the same
        out = _ask(tmp_path)
        assert out.returncode != 0
        assert "Unable to compile 'ansible.module_utils.pk_helper'" in out.stdout, out.stdout


def test_test_worlds_share_one_keep_and_a_new_world_compiles_nothing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite's worlds (Sandbox.shared_payloads) keep payloads in one place: kept by content,
    a new world's first pass finds everything an earlier world compiled and scanned."""
    shared = tmp_path / "payloads"
    monkeypatch.setattr(Sandbox, "shared_payloads", shared)

    def kept() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in shared.rglob("*") if p.is_file()}

    for n in (1, 2):
        sb = Sandbox(root=tmp_path / f"world{n}", hosts=1, first_host=LOCAL_FIRST_HOST).start()
        try:
            before = kept()
            sb.open_pr(f"b{n}", f"world {n}")
            result = run_pass(sb)
            assert result.ok, (result.problem, result.outcomes)
        finally:
            sb.stop()
        after = kept()
        assert {p.parent.name for p in after} == {"pullrekun-bytecode", "pullrekun-imports"}
        if n == 2:
            assert after == before, "the second world compiled and scanned nothing again"


def test_a_shared_keep_others_may_write_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "payloads"
    shared.mkdir(mode=0o700)
    shared.chmod(0o777)
    monkeypatch.setattr(Sandbox, "shared_payloads", shared)
    sb = Sandbox(root=tmp_path / "world", hosts=1, first_host=LOCAL_FIRST_HOST).start()
    try:
        assert not (tmp_path / "world" / "artifacts" / "ansible-tmp" / "pullrekun-bytecode").is_symlink()
    finally:
        sb.stop()
