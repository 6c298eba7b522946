"""End to end: the GitHub simulator's signed webhooks drive `pullrekun serve`, with no timer pass.

The sandbox's world (moto's EC2, the GitHub simulator, local staging hosts, SQLite state) and
the real pass: a PR opened and then pushed to is served at each head within one webhook each.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.github_hooks import WebhookSender
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.config import ServeConfig
from pullrekun.web.serve import Service
from tests.conftest import status_of

SECRET = "sandbox webhook secret"


@pytest.fixture
def served(local_sandbox: Sandbox) -> Iterator[tuple[Sandbox, Service]]:
    sb = local_sandbox
    cfg = config_mod.load(sb.config_path)
    # The timer would run a pass only after an hour: every pass here is a webhook's.
    cfg = dataclasses.replace(cfg, serve=ServeConfig(interval=3600))
    store = Store.open(cfg.state_url)
    service = Service(cfg, store, SECRET, bind="127.0.0.1", port=0)
    service.start_background()
    sb.github.webhook = WebhookSender(f"{service.url}/webhooks/github", SECRET)
    try:
        yield sb, service
    finally:
        sb.github.webhook = None
        service.shutdown()
        store.close()


def served_by(sb: Sandbox, pr: int, sha: str, timeout: float = 120) -> str:
    """Wait until ``pr``'s environment serves ``sha``; its address."""
    waited = threading.Event()
    for _ in range(int(timeout / 0.1)):
        envs = {e["pr"]: e for e in status_of(sb)["environments"]}
        env = envs.get(pr)
        if env is not None and env["status"] == "ready" and env["sha"] == sha:
            addr = sb.addr_of(env["instance_id"])
            if sb.served(addr) == sha:
                return addr
        waited.wait(0.1)
    raise AssertionError(f"PR #{pr} is not served at {sha[:12]} after {timeout} s: {status_of(sb)}")


def test_a_push_is_live_after_its_webhook_with_no_timer_pass(served: tuple[Sandbox, Service]) -> None:
    sb, service = served
    pr, first = sb.open_pr("hooked", "first version")
    addr = served_by(sb, pr, first)
    head = sb.commit("hooked", "second version")
    sb.github.push(pr, head)
    assert served_by(sb, pr, head) == addr, "the push redeploys the same environment"
    assert service.trigger.wait_idle(60)
    reasons = [r.reason for r in service.trigger.history]
    assert reasons, "no pass ran"
    assert set(reasons) == {"webhook"}, reasons
    assert [d[:3] for d in sb.github.webhook.delivered] == [  # type: ignore[union-attr]
        ("pull_request", "opened", 202),
        ("pull_request", "synchronize", 202),
    ]
    # Both playbook runs were forks of the warm start (the first waited for its import).
    root = Path(config_mod.load(sb.config_path).ansible.artifacts_dir)
    runs = sorted(root.glob("*/playbook.start"), key=lambda p: p.stat().st_mtime)
    assert [p.read_text().strip() for p in runs] == ["warm", "warm"]
    # What Prometheus reads: the passes this process ran, and where things stand now.
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    passes = len(service.trigger.history)
    assert f"pullrekun_pass_duration_seconds_count {float(passes)}" in metrics
    requests = re.search(r"^pullrekun_github_requests_total (\d+)\.0$", metrics, re.MULTILINE)
    assert requests is not None
    assert int(requests.group(1)) > 0
    assert 'pullrekun_environments{state="ready"} 1.0' in metrics
    assert 'pullrekun_environments{state="failed"} 0.0' in metrics
    assert "pullrekun_queue_length 0.0" in metrics
    assert re.search(r"^pullrekun_github_rate_limit_remaining \d+\.0$", metrics, re.MULTILINE)
