"""The README's troubleshooting table, as written: each message it shows is what pullrekun prints
in that situation, with the exit code it names."""

from __future__ import annotations

import re
import subprocess

import pytest
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun.adapters.state.lock import pass_lock
from pullrekun.adapters.state.store import Store
from tests.conftest import run_cli
from tests.paths import REPO

GITHUB = "pullrekun: GitHub: GET /repos/acme/webapp/pulls?... answered"
ROWS = [
    line
    for line in (REPO / "README.md").read_text().split("### Troubleshooting", 1)[1].splitlines()
    if line.startswith("| `pullrekun: ")
]


def row(start: str) -> tuple[re.Pattern[str], int]:
    """The message of the row starting with ``start`` as a pattern (``...`` and ``<x>`` match
    anything, the example repository any repository), and the exit code it names."""
    (line,) = [ln for ln in ROWS if ln.startswith(f"| `{start}")]
    shown = line.split("`")[1]
    pattern = re.escape(shown).replace(r"\.\.\.", ".*?").replace("acme/webapp", "[^/]+/[^/?]+")
    pattern = re.sub(r"<[^>]+>", ".+?", pattern)
    code = re.search(r"\(exit (\d)", line)
    assert code is not None, line
    return re.compile(pattern), int(code.group(1))


def reconcile(sb: Sandbox, **env: str | None) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it; with another environment, in a process of its own."""
    return run_cli(sb, "reconcile", env=env, child=bool(env))


@pytest.mark.parametrize(
    ("start", "config", "env"),
    [
        ("pullrekun: configuration error", {"github": {"per_page": 500}}, {}),
        (f"{GITHUB} 404", {"github": {"repository": "acme/gone"}}, {}),
        (f"{GITHUB} 401", {}, {"PULLREKUN_GITHUB_TOKEN": "ghp_revoked"}),
        (
            "pullrekun: EC2: describe_instances failed: Unable to locate credentials",
            {},
            {
                "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        ),
        ("pullrekun: cannot open the state DB", {"state": {"url": "mysql+pymysql://u:p@127.0.0.1:9/x"}}, {}),
    ],
)  # fmt: skip
def test_each_message_of_the_table_is_what_pullrekun_prints(
    local_sandbox: Sandbox, start: str, config: dict[str, dict[str, object]], env: dict[str, str | None]
) -> None:
    sb = local_sandbox
    for section, values in config.items():
        sb.extra_config.setdefault(section, {}).update(values)
    sb.write_config()
    pattern, code = row(start)
    out = reconcile(sb, **env)
    assert out.returncode == code, out.stderr
    assert pattern.search(out.stderr), f"{pattern.pattern!r} not in {out.stderr!r}"


def test_the_lock_message_of_the_table_is_what_pullrekun_prints(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    pattern, code = row("pullrekun: another pass holds")
    store = Store.open(sb.state_db_url)
    try:
        with pass_lock(store.engine):
            out = reconcile(sb)
    finally:
        store.close()
    assert out.returncode == code, out.stderr
    assert pattern.search(out.stderr), f"{pattern.pattern!r} not in {out.stderr!r}"
