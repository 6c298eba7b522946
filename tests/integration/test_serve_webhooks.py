"""`pullrekun serve` answering GitHub's own example deliveries (npm @octokit/webhooks-examples).

A real uvicorn server on loopback, real HTTP; the pass is a counter here (what a pass does is
tested everywhere else), so every assertion is about which deliveries start passes and which
are refused without changing anything.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pullrekun.adapters.state.store import Store
from pullrekun.config import parse
from pullrekun.core.webhooks import PULL_REQUEST_ACTIONS, sign
from pullrekun.web.serve import Service
from tests.conftest import need
from tests.paths import REPO

EXAMPLES = REPO / ".cache" / "octokit-webhooks-examples" / "package" / "api.github.com" / "index.json"
SECRET = "webhook secret: 'from the environment'"
REPOSITORY = "Codertocat/Hello-World"  # the repository most examples are about


def examples(*events: str) -> list[tuple[str, dict[str, Any]]]:
    need(None if EXAMPLES.is_file() else "run scripts/fetch-webhook-examples.sh first")
    index = json.loads(EXAMPLES.read_text())
    return [(e["name"], ex) for e in index if e["name"] in events for ex in e["examples"]]


def expected_trigger(event: str, payload: dict[str, Any]) -> bool:
    ours = payload.get("repository", {}).get("full_name", "").lower() == REPOSITORY.lower()
    action = payload.get("action")
    if action == "edited" and "base" not in payload.get("changes", {}):
        return False  # a new title or body changes nothing
    return ours and (event == "push" or action in PULL_REQUEST_ACTIONS)


class Served:
    def __init__(self, service: Service, passes: list[int]) -> None:
        self.service = service
        self.passes = passes

    def post(
        self,
        event: str,
        body: bytes,
        *,
        signature: str | None = "valid",
        delivery: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        sent = {"Content-Type": "application/json", "X-GitHub-Event": event}
        sent["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
        if signature == "valid":
            sent["X-Hub-Signature-256"] = sign(SECRET.encode(), body)
        elif signature is not None:
            sent["X-Hub-Signature-256"] = signature
        sent.update(headers or {})
        request = urllib.request.Request(f"{self.service.url}/webhooks/github", data=body, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def pokes(self) -> int:
        """Pokes taken so far, once the trigger is idle (passes ended, nothing pending)."""
        trigger = self.service.trigger
        assert trigger.wait_idle(30), "the passes did not settle"
        return sum(r.pokes for r in trigger.history)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    cfg = parse(
        {
            "github": {"repository": REPOSITORY},
            "app": {"repo_url": "unused", "command": "unused"},
            # The default settle time; the smallest body limit allowed.
            "serve": {"settle_ms": 200, "max_body_kb": 64},
        }
    )
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    passes: list[int] = []

    def count() -> str:
        passes.append(1)
        return "clean"

    service = Service(cfg, store, SECRET, bind="127.0.0.1", port=0, run_pass=count)
    service.start_background()
    yield Served(service, passes)
    service.shutdown()
    store.close()


def test_every_pull_request_and_push_example_is_accepted_when_signed(served: Served) -> None:
    cases = examples("pull_request", "push")
    assert len(cases) >= 36, "the pinned package has 29 pull_request and 7 push examples"
    triggered = 0
    for event, payload in cases:
        status, answer = served.post(event, json.dumps(payload).encode())
        assert status == 202, (event, payload.get("action"), answer)
        assert (answer["outcome"] == "triggered") == expected_trigger(event, payload), answer
        triggered += answer["outcome"] == "triggered"
    assert triggered >= 10, "most examples are about Codertocat/Hello-World"
    assert served.pokes() == triggered
    assert 1 <= len(served.passes) <= triggered


def test_every_example_is_refused_when_forged_truncated_unsigned_or_replayed(served: Served) -> None:
    cases = examples("pull_request", "push")
    for event, payload in cases:
        body = json.dumps(payload).encode()
        forged = sign(b"another secret", body)
        assert served.post(event, body, signature=forged)[0] == 401
        assert served.post(event, body[:-1], signature=sign(SECRET.encode(), body))[0] == 401
        assert served.post(event, body, signature=None)[0] == 401
    assert served.pokes() == 0, "a refused delivery changes nothing"
    assert served.passes == []
    replays = 0
    for event, payload in cases:
        if not expected_trigger(event, payload):
            continue
        body, delivery = json.dumps(payload).encode(), str(uuid.uuid4())
        assert served.post(event, body, delivery=delivery)[0] == 202
        status, answer = served.post(event, body, delivery=delivery)
        assert (status, answer["outcome"]) == (200, "duplicate")
        replays += 1
    assert served.pokes() == replays, "a redelivery starts no pass"


def test_oversized_and_malformed_deliveries_are_refused(served: Served) -> None:
    big = json.dumps({"repository": {"full_name": REPOSITORY}, "pad": "x" * 70_000}).encode()
    assert served.post("push", big)[0] == 413
    assert served.post("push", b"{not json")[0] == 400
    assert served.post("push", b"[]")[0] == 400
    body = json.dumps({"repository": {"full_name": REPOSITORY}}).encode()
    assert served.post("push", body, delivery="not/a/delivery")[0] == 400
    assert served.post("../push", body)[0] == 400
    assert served.pokes() == 0
    status, answer = served.post("ping", json.dumps({"zen": "Design for failure."}).encode())
    assert (status, answer["outcome"]) == (202, "ignored")


def test_a_burst_of_50_deliveries_starts_one_or_two_passes(served: Served) -> None:
    ((_, payload),) = [c for c in examples("pull_request") if c[1]["action"] == "synchronize"][:1]
    body = json.dumps(payload).encode()
    # A real pass takes seconds: this one lasts until the burst is over, however slow the machine.
    burst_over = threading.Event()

    def slow_pass() -> str:
        served.passes.append(1)
        burst_over.wait(30)
        return "clean"

    served.service.trigger.run_pass = slow_pass
    # As GitHub sends a burst: many at once, on several connections.
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: served.post("pull_request", body)[0], range(50)))
    burst_over.set()
    assert statuses == [202] * 50
    assert served.pokes() == 50
    assert 1 <= len(served.passes) <= 2, served.passes


def test_health_and_metrics_answer(served: Served) -> None:
    body = json.dumps({"repository": {"full_name": REPOSITORY}}).encode()
    served.post("push", body)
    served.post("push", body, signature=None)
    served.pokes()
    with urllib.request.urlopen(f"{served.service.url}/healthz", timeout=5) as resp:
        health = json.loads(resp.read())
    assert health["status"] == "ok"
    assert health["passes"] == len(served.passes) >= 1
    with urllib.request.urlopen(f"{served.service.url}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'pullrekun_webhook_deliveries_total{outcome="triggered"} 1.0' in metrics
    assert 'pullrekun_webhook_deliveries_total{outcome="bad_signature"} 1.0' in metrics
    assert f"pullrekun_passes {float(len(served.passes))}" in metrics
    assert "pullrekun_pass_pending_pokes 0.0" in metrics
    assert "pullrekun_pass_last_duration_seconds " in metrics


@pytest.mark.parametrize("source", ["deployment", "branch"])
def test_a_deployment_to_production_wakes_serve_when_production_is_read_from_deployments(
    tmp_path: Path, source: str
) -> None:
    """GitHub's deployment_status examples: successful ones to `production` start a pass when
    [release] reads production from deployments; the github-pages one never; without that source,
    none (pullrekun's own preview deployments send these too)."""
    cfg = parse(
        {
            "github": {"repository": REPOSITORY},
            "app": {"repo_url": "unused", "command": "unused"},
            "serve": {"settle_ms": 0},
            "release": {"source": source, "environment": "production"},
        }
    )
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    service = Service(cfg, store, SECRET, bind="127.0.0.1", port=0, run_pass=lambda: "clean")
    service.start_background()
    try:
        served = Served(service, [])
        cases = examples("deployment_status")
        assert len(cases) == 4
        answers = []
        for event, payload in cases:
            status, answer = served.post(event, json.dumps(payload).encode())
            assert status == 202
            answers.append(answer)
        woke = [p["deployment"]["environment"] == "production" and source == "deployment" for _, p in cases]
        assert [a["outcome"] == "triggered" for a in answers] == woke, answers
    finally:
        service.shutdown()
        store.close()
