"""`pullrekun serve` as the controller role runs it: a process, its config, its signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun.cli import EXIT_BAD_INPUT
from tests.conftest import run_cli, status_of


def test_serve_refuses_to_start_without_a_webhook_secret(local_sandbox: Sandbox) -> None:
    assert "PULLREKUN_WEBHOOK_SECRET" not in os.environ
    out = run_cli(local_sandbox, "serve", "--port", "0", timeout=60)
    assert out.returncode == EXIT_BAD_INPUT
    assert "serve needs the webhook secret in $PULLREKUN_WEBHOOK_SECRET" in out.stderr


def _environment(sb: Sandbox, pr: int) -> dict[str, Any] | None:
    return next((e for e in status_of(sb)["environments"] if e["pr"] == pr), None)


def _wait_until_deploying(sb: Sandbox, pr: int) -> None:
    waited = threading.Event()
    for _ in range(600):
        env = _environment(sb, pr)
        if env is not None and env["status"] == "deploying":
            return
        waited.wait(0.1)
    raise AssertionError(f"the start-up pass never began deploying PR #{pr}: {status_of(sb)}")


def test_serve_passes_at_start_and_sigterm_cancels_the_pass_in_progress(local_sandbox: Sandbox) -> None:
    """The start-up pass deploys a commit whose app never answers (its health check would wait
    300 s); SIGTERM cancels that pass: the process exits at once and the outcome is recorded."""
    sb = local_sandbox
    sb.extra_config = {"app": {"health_timeout": 300}}
    sb.write_config()
    pr, _sha = sb.open_pr("hang", "crash on start")  # the sandbox app's way to never answer
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pullrekun",
            "--config",
            str(sb.config_path),
            *("--log-format", "json", "serve"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PULLREKUN_WEBHOOK_SECRET": "a secret", "PYTHONFAULTHANDLER": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("pullrekun serve: listening on http://127.0.0.1:"), first
        url = first.split()[-1]
        _wait_until_deploying(sb, pr)
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["pass_running"] is True
        proc.send_signal(signal.SIGTERM)
        try:
            rest = proc.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:
            # SIGABRT makes Python (PYTHONFAULTHANDLER) print where every thread is stuck.
            proc.send_signal(signal.SIGABRT)
            stuck = proc.communicate(timeout=30)[0]
            raise AssertionError(f"serve did not stop within 120 s of SIGTERM:\n{stuck[-6000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, rest[-3000:]
    # Structured logs (--log-format json): after the address line, one JSON object per line.
    records = [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["level"] == "info" and r["message"].startswith("stopping:") for r in records), records
    env = _environment(sb, pr)
    assert env is not None
    assert env["status"] == "failed", env
    assert "canceled" in (env["message"] or ""), env


def test_serve_killed_with_sigkill_mid_deploy_converges_on_the_next_pass(local_sandbox: Sandbox) -> None:
    """kill -9 during a deploy (nothing runs to clean up): the guard ends the orphaned run and
    the next pass, here a plain `reconcile`, finishes the environment at the PR's head."""
    sb = local_sandbox
    sb.extra_config = {"app": {"health_timeout": 300}}
    sb.write_config()
    pr, _ = sb.open_pr("killed", "crash on start")  # a deploy that hangs until it is killed
    proc = subprocess.Popen(
        [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PULLREKUN_WEBHOOK_SECRET": "a secret"},
    )
    try:
        _wait_until_deploying(sb, pr)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    head = sb.commit("killed", "fixed")
    sb.github.push(pr, head)
    sb.extra_config = {}
    sb.write_config()
    out = run_cli(sb, "reconcile")
    assert out.returncode == 0, out.stdout + out.stderr
    env = _environment(sb, pr)
    assert env is not None
    assert (env["status"], env["sha"]) == ("ready", head), env
    assert sb.served(sb.addr_of(env["instance_id"])) == head
