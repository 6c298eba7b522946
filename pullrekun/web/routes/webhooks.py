"""GitHub's webhooks: answered at once (202) after the signature, size, headers and repository are
checked; the pass a delivery asks for runs on the trigger's worker thread (pullrekun.app.trigger),
so GitHub's 10-second limit is never at stake whatever the pass does."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from pullrekun.app.trigger import PassTrigger
from pullrekun.config import Config
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
from pullrekun.web.metrics import Metrics

log = logging.getLogger(__name__)
router = APIRouter()


@dataclass
class Hooks:
    """What the webhook route needs, kept on ``app.state.hooks``."""

    cfg: Config
    trigger: PassTrigger
    secret: bytes
    metrics: Metrics
    deliveries: DeliveryLog

    def answer(self, status: int, outcome: str, message: str) -> JSONResponse:
        self.metrics.deliveries.labels(outcome).inc()
        return JSONResponse({"outcome": outcome, "message": message}, status_code=status)


def _hooks(request: Request) -> Hooks:
    hooks: Hooks = request.app.state.hooks
    return hooks


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


@router.post("/webhooks/github")
async def github_webhook(request: Request, hooks: Annotated[Hooks, Depends(_hooks)]) -> Response:
    cfg = hooks.cfg
    try:
        body = await _body(request, cfg.serve.max_body_kb * 1024)
    except _TooLarge:
        return hooks.answer(413, "too_large", f"deliveries over {cfg.serve.max_body_kb} KB are refused")
    if not signature_ok(hooks.secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("webhook refused: missing or wrong %s", SIGNATURE_HEADER)
        return hooks.answer(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER}")
    try:
        event, delivery = check_headers(
            request.headers.get(EVENT_HEADER), request.headers.get(DELIVERY_HEADER)
        )
        rel = cfg.release
        production = rel.environment if rel is not None and rel.source == "deployment" else None
        verdict = judge(event, body, cfg.github.repository, production)
    except BadDelivery as exc:
        return hooks.answer(400, "malformed", str(exc))
    if not hooks.deliveries.first_time(delivery):
        return hooks.answer(200, "duplicate", f"delivery {delivery} was already taken")
    if not verdict.trigger:
        return hooks.answer(202, "ignored", verdict.reason)
    hooks.trigger.poke("webhook")
    log.info("webhook %s (%s): pass requested", delivery, verdict.reason)
    return hooks.answer(202, "triggered", verdict.reason)
