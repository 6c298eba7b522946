"""The ASGI app of `pullrekun serve`: GitHub's webhooks, /healthz and Prometheus metrics (the
dashboard and the API are added by :func:`pullrekun.web.dashboard.install`)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pullrekun.adapters.state.store import Store
from pullrekun.app.trigger import PassTrigger
from pullrekun.config import Config
from pullrekun.web.deliveries import DeliveryLog
from pullrekun.web.metrics import Metrics
from pullrekun.web.routes import ops, webhooks


async def _server_timing(request: Request, call_next: Any) -> Response:
    """How long the server took, in the standard Server-Timing header (benchmarks read it)."""
    start = time.perf_counter()
    response: Response = await call_next(request)
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
    return response


def create_app(cfg: Config, trigger: PassTrigger, webhook_secret: bytes, store: Store) -> FastAPI:
    app = FastAPI(title="pullrekun", version="1", docs_url=None, redoc_url=None)
    app.state.metrics = Metrics(trigger, store)
    app.state.hooks = webhooks.Hooks(cfg, trigger, webhook_secret, app.state.metrics, DeliveryLog())
    app.state.started = time.monotonic()
    app.middleware("http")(_server_timing)
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    return app
