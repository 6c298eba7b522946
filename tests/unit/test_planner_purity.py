"""Importing the pure core loads no I/O module at run time.

import-linter checks the static imports; this checks what Python actually loads (lazy and
dynamic imports included). The forbidden list is the import-linter contract's, read from
pyproject.toml: one list, no copy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from tests.paths import REPO

CORE = ["model", "planner", "trust", "dbpolicy", "views", "validate"]


def _forbidden() -> list[str]:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (pure,) = [c for c in contracts if c["type"] == "forbidden" and c["source_modules"] == ["pullrekun.core"]]
    return list(pure["forbidden_modules"])


def test_importing_the_core_loads_no_io_module() -> None:
    forbidden = _forbidden()
    assert "sqlalchemy" in forbidden  # the contract was found
    assert "subprocess" in forbidden
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        + "".join(f"import pullrekun.core.{m}\n" for m in CORE)
        + "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "pullrekun.core.planner" in loaded
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert bad == []
