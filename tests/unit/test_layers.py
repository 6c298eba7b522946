"""The layers hold: import-linter's contracts pass on the tree and fail on a deliberate violation.

The contracts (pyproject.toml) are the one source of truth; this proves they bite, by copying
the packages aside, adding one import that breaks a layer, and watching lint-imports fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from tests.paths import REPO

LINT = str(Path(sys.executable).parent / "lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("pullrekun", "sandbox/pullrekun_sandbox"):
        name = Path(package).name
        shutil.copytree(REPO / package, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + line + "\n" + rest)


def test_the_contracts_pass_on_the_tree(tree: Path) -> None:
    out = _lint(tree)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("pullrekun/core/model.py", "import pullrekun.app.readmodel", "Layers"),
        ("pullrekun/adapters/ec2.py", "import pullrekun.cli", "Layers"),
        ("pullrekun/config/model.py", "import pullrekun.adapters.chat", "Layers"),
        ("pullrekun/core/planner.py", "import subprocess", "The core is pure"),
        ("pullrekun/app/reconcile.py", "import pullrekun_sandbox.sandbox", "The product never imports"),
        ("pullrekun/web/api.py", "import pullrekun.app.poolchanges", "Surfaces never carry out"),
        ("pullrekun/cli/commands.py", "import pullrekun.adapters.playbook.apply", "Surfaces never carry out"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    _add_import(tree / module, line)
    out = _lint(tree)
    assert out.returncode == 1, out.stdout + out.stderr
    broken = [ln for ln in out.stdout.splitlines() if ln.endswith(" BROKEN")]
    assert [b for b in broken if b.startswith(contract)], out.stdout


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("pullrekun", "pullrekun_sandbox")
    cycles = {
        tuple(sorted((module, imported)))
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    }
    assert cycles == set()
