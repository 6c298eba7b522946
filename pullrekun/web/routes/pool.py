"""What people may ask of the pool's instances: keep one running, stop, retire, register,
terminate (launched ones), and one more launched; start or stop a developer's server now."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from pullrekun.web.actions import INSTANCE_VERBS, SERVER_VERBS
from pullrekun.web.auth import CSRF_FIELD
from pullrekun.web.context import Asker, WebParts, act

router = APIRouter()


@router.post("/instances/{instance_id}/{verb}")
def instance_action(
    request: Request,
    web: WebParts,
    person: Asker,
    instance_id: str,
    verb: str,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    if verb not in INSTANCE_VERBS:
        return Response(f"no such action: {verb}", status_code=404)
    return act(request, person, csrf_token_sent, lambda p: web.actions.instance(instance_id, verb, p.actor))


@router.post("/instances")
def register_instance(
    request: Request,
    web: WebParts,
    person: Asker,
    instance_id: str = Form(""),
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    return act(request, person, csrf_token_sent, lambda p: web.actions.register(instance_id.strip(), p.actor))


@router.post("/launches")
def launch_one(
    request: Request,
    web: WebParts,
    person: Asker,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    return act(request, person, csrf_token_sent, lambda p: web.actions.launch_one(p.actor))


@router.post("/servers/{instance_id}/{verb}")
def server_action(
    request: Request,
    web: WebParts,
    person: Asker,
    instance_id: str,
    verb: str,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    if verb not in SERVER_VERBS:
        return Response(f"no such action: {verb}", status_code=404)
    return act(request, person, csrf_token_sent, lambda p: web.actions.server(instance_id, verb, p.actor))
