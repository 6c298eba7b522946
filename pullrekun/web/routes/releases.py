"""Asking for the waiting-for-release notice."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pullrekun.web.auth import CSRF_FIELD
from pullrekun.web.context import Asker, WebParts, act

router = APIRouter()


@router.post("/releases/pending")
def pending_notice(
    request: Request, web: WebParts, person: Asker, csrf_token_sent: str = Form("", alias=CSRF_FIELD)
) -> Response:
    return act(
        request, person, csrf_token_sent, lambda p: web.actions.pending_notice(p.actor), back="/#releases"
    )
