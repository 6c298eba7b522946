"""The test order comes from measured durations, written by a script (not kept by hand)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.integration.test_runner" name="test_a" time="2.5"/>
<testcase classname="tests.integration.test_runner" name="test_b" time="3.0"/>
<testcase classname="tests.security.test_tags.TestClass" name="test_c" time="9.2"/>
</testsuite></testsuites>
"""


def test_every_file_in_the_durations_exists() -> None:
    durations = json.loads((REPO / "tests" / "durations.json").read_text())
    assert durations, "the order of a whole run is measured"
    for path in durations:
        assert (REPO / "tests" / path).is_file(), f"tests/durations.json names {path}, which is gone"


def test_the_script_writes_seconds_per_file_from_a_junit_report(tmp_path: Path) -> None:
    script = (REPO / "scripts" / "test-durations.py").read_text()
    out = tmp_path / "tests" / "durations.json"
    out.parent.mkdir()
    out.write_text(json.dumps({"integration/test_kept.py": 7}))
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "test-durations.py").write_text(script)
    report = tmp_path / "report.xml"
    report.write_text(REPORT)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "test-durations.py"), str(report)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    assert written == {
        "security/test_tags.py": 9,
        "integration/test_kept.py": 7,
        "integration/test_runner.py": 6,
    }
    assert list(written) == [
        "security/test_tags.py",
        "integration/test_kept.py",
        "integration/test_runner.py",
    ]
