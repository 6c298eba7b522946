"""The ASGI app of `pullrekun serve`: GitHub's webhooks, /healthz and Prometheus metrics.

A webhook is answered at once (202) after its signature, size, headers and repository are
checked; the pass it asks for runs on the trigger's worker thread (pullrekun.app.trigger), so
GitHub's 10-second limit is never at stake whatever the pass does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from pullrekun.adapters.github.client import RequestStats
from pullrekun.adapters.state.store import Store
from pullrekun.app.trigger import PassTrigger
from pullrekun.config import Config
from pullrekun.core.model import EnvStatus
from pullrekun.core.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    BadDelivery,
    check_headers,
    judge,
    signature_ok,
)
from pullrekun.web.deliveries import DeliveryLog

log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes (whatever Content-Length claims)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class Metrics:
    """Prometheus metrics: what this process did (deliveries, passes) and, read from the state
    DB at each scrape, where things stand (environments by state, the queue, GitHub's limit)."""

    def __init__(self, trigger: PassTrigger, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "pullrekun_webhook_deliveries",
            "Webhook deliveries by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.passes = Gauge("pullrekun_passes", "Passes run by this process", registry=self.registry)
        self.passes.set_function(lambda: len(trigger.history))
        self.pending = Gauge(
            "pullrekun_pass_pending_pokes", "Pokes waiting for a pass", registry=self.registry
        )
        self.pending.set_function(lambda: trigger.pending)
        self.last_duration = Gauge(
            "pullrekun_pass_last_duration_seconds", "How long the last pass took", registry=self.registry
        )
        self.last_duration.set_function(
            lambda: (trigger.history[-1].finished - trigger.history[-1].started) if trigger.history else 0.0
        )
        self.pass_duration = Histogram(
            "pullrekun_pass_duration_seconds",
            "How long passes took",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.github_requests = Counter(
            "pullrekun_github_requests", "GitHub requests made by passes", registry=self.registry
        )
        self.registry.register(_StateCollector(store))

    def observe_pass(self, seconds: float, github: RequestStats | None) -> None:
        self.pass_duration.observe(seconds)
        if github is not None:
            self.github_requests.inc(github.requests)


class _StateCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        by_state = {state: 0 for state in (*(str(s) for s in EnvStatus), "asleep")}
        for env in self._store.journal.environments():
            by_state["asleep" if env.assignment.asleep else str(env.assignment.status)] += 1
        environments = GaugeMetricFamily(
            "pullrekun_environments", "Environments by state (the state DB)", labels=["state"]
        )
        for state, count in sorted(by_state.items()):
            environments.add_metric([state], count)
        yield environments
        yield GaugeMetricFamily(
            "pullrekun_queue_length", "PRs waiting for an instance", value=len(self._store.journal.queue())
        )
        remaining = self._store.github_facts.read().get("rate_remaining", "")
        if remaining.isdigit():
            yield GaugeMetricFamily(
                "pullrekun_github_rate_limit_remaining",
                "GitHub requests left this hour, as the last pass saw",
                value=int(remaining),
            )


def create_app(cfg: Config, trigger: PassTrigger, webhook_secret: bytes, store: Store) -> FastAPI:
    app = FastAPI(title="pullrekun", version="1", docs_url=None, redoc_url=None)
    deliveries = DeliveryLog()
    metrics = Metrics(trigger, store)
    app.state.metrics = metrics
    limit = cfg.serve.max_body_kb * 1024
    started = time.monotonic()

    @app.middleware("http")
    async def server_timing(request: Request, call_next: Any) -> Response:
        """How long the server took, in the standard Server-Timing header (benchmarks read it)."""
        start = time.perf_counter()
        response: Response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
        return response

    def answer(status: int, outcome: str, message: str) -> JSONResponse:
        metrics.deliveries.labels(outcome).inc()
        return JSONResponse({"outcome": outcome, "message": message}, status_code=status)

    @app.post("/webhooks/github")
    async def github_webhook(request: Request) -> Response:
        try:
            body = await _body(request, limit)
        except _TooLarge:
            return answer(413, "too_large", f"deliveries over {cfg.serve.max_body_kb} KB are refused")
        if not signature_ok(webhook_secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook refused: missing or wrong %s", SIGNATURE_HEADER)
            return answer(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER}")
        try:
            event, delivery = check_headers(
                request.headers.get(EVENT_HEADER), request.headers.get(DELIVERY_HEADER)
            )
            rel = cfg.release
            production = rel.environment if rel is not None and rel.source == "deployment" else None
            verdict = judge(event, body, cfg.github.repository, production)
        except BadDelivery as exc:
            return answer(400, "malformed", str(exc))
        if not deliveries.first_time(delivery):
            return answer(200, "duplicate", f"delivery {delivery} was already taken")
        if not verdict.trigger:
            return answer(202, "ignored", verdict.reason)
        trigger.poke("webhook")
        log.info("webhook %s (%s): pass requested", delivery, verdict.reason)
        return answer(202, "triggered", verdict.reason)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        last = trigger.history[-1] if trigger.history else None
        return {
            "status": "ok",
            "uptime_seconds": round(time.monotonic() - started, 1),
            "pass_running": trigger.running,
            "passes": len(trigger.history),
            "last_pass": None if last is None else {"reason": last.reason, "result": last.result},
        }

    @app.get("/metrics")
    def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
