"""The pullrekun command and ansible-playbook (as the guard starts it) import with the garbage
collector paused, and resume it: the imports' objects frozen, the collector on for the rest."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, sys
from {module} import main
try:
    main({args})
except SystemExit as exc:
    code = exc.code
print(gc.isenabled(), gc.get_freeze_count() > 50000, {loaded!r} in sys.modules, code)
"""


def _probe(module: str, args: str, loaded: str) -> list[str]:
    code = PROBE.format(module=module, args=args, loaded=loaded)
    out = subprocess.run(
        [sys.executable, "-c", code, "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()[-4:]


def test_the_pullrekun_command_resumes_the_collector_after_its_imports() -> None:
    # main() reads sys.argv: ["-c", "--version"] -> the command's version, then exit 0.
    assert _probe("pullrekun.entry", "", "sqlalchemy") == ["True", "True", "True", "0"]


def test_ansible_playbook_as_the_guard_starts_it_runs_with_the_collector_resumed() -> None:
    assert _probe("pullrekun.adapters.playbook.playbook_cli", "['--version']", "ansible.cli.playbook") == [
        "True",
        "True",
        "True",
        "0",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "pullrekun.adapters.playbook.playbook_cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ansible-playbook [core 2."), out.stdout
