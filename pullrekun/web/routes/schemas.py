"""The developer -> schema table: which schema each author's environments are copied from."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from pullrekun.web.auth import CSRF_FIELD
from pullrekun.web.context import Asker, WebParts, act, to_login

router = APIRouter()


@router.get("/schemas", response_class=HTMLResponse)
def schemas(request: Request, web: WebParts, person: Asker) -> Response:
    if person is None:
        return to_login()
    if web.cfg.database is None:
        return Response("environments have no databases here ([database] is not configured)", status_code=404)
    return web.page(
        request,
        "schemas.html.j2",
        table=web.actions.schema_table(),
        default_source=web.cfg.database.default_source,
    )


@router.post("/schemas")
def set_schema(
    request: Request,
    web: WebParts,
    person: Asker,
    login: str = Form(""),
    schema_name: str = Form("", alias="schema"),
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    return act(
        request,
        person,
        csrf_token_sent,
        lambda p: web.actions.set_schema(login.strip(), schema_name.strip(), p.actor),
        back="/schemas",
    )


@router.post("/schemas/{login}/reset")
def reset_schema(
    request: Request,
    web: WebParts,
    person: Asker,
    login: str,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    return act(
        request, person, csrf_token_sent, lambda p: web.actions.reset_schema(login, p.actor), back="/schemas"
    )
