"""Write tests/durations.json (seconds per test file) from the JUnit XML of a whole run.

    PULLREKUN_JUNIT=report.xml bash .ci/run
    .venv/bin/python scripts/test-durations.py report.xml

The test session starts the longest files first (tests/conftest.py), so the three workers end
together. Files not in the report keep their last figure.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "durations.json"


def durations(report: Path) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):  # noqa: S314
        module = case.get("classname", "").split(".")
        # classname: tests.integration.test_x[.Class]; the file is the first test_ part.
        parts = module[1 : next(i for i, p in enumerate(module) if p.startswith("test_")) + 1]
        seconds["/".join(parts) + ".py"] += float(case.get("time", 0))
    return seconds


def main(args: list[str]) -> int:
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    known = json.loads(OUT.read_text()) if OUT.exists() else {}
    known.update({path: round(sec) for path, sec in durations(Path(args[0])).items()})
    ordered = dict(sorted(known.items(), key=lambda kv: (-kv[1], kv[0])))
    OUT.write_text(json.dumps(ordered, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
