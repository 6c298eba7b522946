"""Operations: /healthz (is serve alive, what did its last pass do) and /metrics (Prometheus)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pullrekun.app.trigger import PassTrigger
from pullrekun.web.metrics import Metrics

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    trigger: PassTrigger = request.app.state.hooks.trigger
    last = trigger.history[-1] if trigger.history else None
    return {
        "status": "ok",
        "uptime_seconds": round(time.monotonic() - request.app.state.started, 1),
        "pass_running": trigger.running,
        "passes": len(trigger.history),
        "last_pass": None if last is None else {"reason": last.reason, "result": last.result},
    }


@router.get("/metrics")
def prometheus(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
