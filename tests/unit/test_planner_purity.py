"""The planner and the model import no I/O library (besides the import-linter contract)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = [
    "boto3",
    "botocore",
    "github",
    "ansible_runner",
    "sqlalchemy",
    "pymysql",
    "requests",
    "urllib3",
    "socket",
    "subprocess",
    "http.client",
    "pullrekun.state",
    "pullrekun.ec2",
    "pullrekun.github",
    "pullrekun.runner",
    "pullrekun.executor",
]


def test_importing_the_planner_loads_no_io_module() -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import pullrekun.planner, pullrekun.model\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "pullrekun.planner" in loaded
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
