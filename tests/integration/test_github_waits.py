"""No pass waits unboundedly on GitHub: a long Retry-After is a recorded back-off, not a sleep."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pullrekun_sandbox.github_sim import Fault
from pullrekun_sandbox.sandbox import Sandbox


def _reconcile(sb: Sandbox) -> subprocess.CompletedProcess[str]:
    # A pass that slept on Retry-After: 3600 would hit this timeout and fail the test.
    return subprocess.run(
        [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "reconcile"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("status", [429, 503])
def test_a_long_retry_after_ends_the_pass_with_a_back_off_and_the_next_pass_sends_nothing(
    local_sandbox: Sandbox, status: int
) -> None:
    sb = local_sandbox
    sb.open_pr("w1", "wait")
    sb.github.inject(
        Fault(status, times=5, path_prefix="/repos/", headers={"Retry-After": "3600"}, message="slow down")
    )
    out = _reconcile(sb)
    assert out.returncode == 1, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"one line per failure, got:\n{out.stderr}"
    assert "rate limited until" in lines[0]
    assert f"answered {status}" in lines[0]
    assert "Traceback" not in out.stderr

    before = sb.github.counters()["requests"]
    again = _reconcile(sb)
    assert again.returncode == 1
    assert "backing off" in again.stderr
    assert sb.github.counters()["requests"] == before, "a pass inside the back-off asked GitHub anyway"


def test_a_short_retry_after_on_a_read_is_waited_for_once(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("w2", "short wait")
    sb.github.inject(Fault(429, times=1, path_prefix="/repos/", headers={"Retry-After": "1"}, message="wait"))
    out = _reconcile(sb)
    assert out.returncode == 0, out.stderr
    assert sb.github.faults[0].times == 0, "the fault was served"


def test_an_unreachable_github_is_one_line_and_nothing_changed(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.open_pr("w3", "github down")
    sb.extra_config = {"github": {"api_url": "http://127.0.0.1:9"}}  # nothing listens on port 9
    sb.write_config()
    out = _reconcile(sb)
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("pullrekun: GitHub: GET /repos/")
    assert "connection failed" in lines[0]
    assert lines[0].endswith("; nothing changed")
    assert all(sb.instance_state(i) == "stopped" for i in sb.instance_ids)
