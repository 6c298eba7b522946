"""The JSON API under /api/v1: the dashboard's data and actions for scripts and bots.

Reads take a session cookie (the dashboard's live refresh) or a token; actions take a token
only (``Authorization: Bearer <token>``), so a page elsewhere cannot make a signed-in
browser act. Tokens are configured by their SHA-256 (``pullrekun api-token NAME``): admin
tokens may act, viewer tokens read; an action is recorded as ``token:<name>``. Actions call
the same checks as the dashboard's forms (pullrekun.web.actions) and answer 202 when a
request was recorded for the next pass.

The OpenAPI document (``/openapi.json``) describes these routes only; the status object is
the read model's JSON schema (generated from its types by pullrekun.app.status_schema; the
committed pullrekun/app/status.schema.json is the same), the one ``status --json`` prints.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pullrekun.app.readmodel import event_views
from pullrekun.app.status_schema import status_schema
from pullrekun.web.actions import Answer
from pullrekun.web.auth import Person
from pullrekun.web.context import Web, WebParts, who_is_asking


class Message(BaseModel):
    message: str = Field(description="What was recorded, or why nothing was.")


class Event(BaseModel):
    at: dt.datetime
    kind: str
    pr: int | None
    instance_id: str | None
    actor: str | None = Field(description="Who asked (local:, github:, token:, cli:); null: pullrekun.")
    message: str


class SchemaRow(BaseModel):
    login: str = Field(description="A GitHub login, lower-cased.")
    schema_name: str
    source: str = Field(description='"config" (the config file) or "edited" (the dashboard or the API).')
    set_by: str | None
    set_at: dt.datetime | None


class SignOffBody(BaseModel):
    """``{"ok": true}`` (verified) or ``{"ok": false, "note": "what is wrong"}``."""

    ok: bool
    note: str = ""


class Registration(BaseModel):
    instance_id: str = Field(description="An EC2 instance id (i-0123456789abcdef0).")


class SchemaChoice(BaseModel):
    schema_name: str = Field(description="The developer's schema, copied into their environments.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "No token (actions), or no token nor session (reads)."},
    403: {"model": Message, "description": "The token may read but not act."},
    404: {"model": Message, "description": "Nothing to act on, or no such action."},
    409: {"model": Message, "description": "Not now (the message says why)."},
    422: {"model": Message, "description": "Refused input (the message names the problem)."},
}


def _reader(request: Request, web: WebParts) -> Person | None:
    """Who reads: a token, or the dashboard's session (its live refresh)."""
    return web.tokens.person(request.headers.get("authorization")) or who_is_asking(request)


def _token_holder(request: Request, web: WebParts) -> Person | None:
    """Who acts: a token only, so a page elsewhere cannot make a signed-in browser act."""
    return web.tokens.person(request.headers.get("authorization"))


Reader = Annotated[Person | None, Depends(_reader)]
Actor = Annotated[Person | None, Depends(_token_holder)]
router = APIRouter(prefix="/api/v1", tags=["api"], responses=_ERRORS)


def _denied(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers={"Cache-Control": "no-store"})


def _acting(person: Person | None, do: Callable[[Person], Answer], verifying: bool = False) -> JSONResponse:
    if person is None:
        return _denied(401, "actions need an API token: Authorization: Bearer <token>")
    if not (person.may_verify if verifying else person.may_act):
        return _denied(403, f"{person.name} may read but not {'sign off' if verifying else 'act'}")
    answer = do(person)
    return JSONResponse({"message": answer.message}, status_code=answer.status)


def _sees_output(web: Web, person: Person) -> bool:
    return person.may_act or web.cfg.report.show_output


@router.get(
    "/status",
    summary="Every environment, the pool, the queue and GitHub's rate limit",
    responses={200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}},
)
def status(web: WebParts, person: Reader) -> JSONResponse:
    if person is None:
        return _denied(401, "sign in first, or send an API token")
    snap = web.read() if _sees_output(web, person) else web.read().without_output()
    return JSONResponse(snap.to_json(), headers={"Cache-Control": "no-store"})


@router.get("/events", summary="The activity log, newest first", response_model=list[Event])
def events(web: WebParts, person: Reader, limit: int = Query(50, ge=1, le=500)) -> Any:
    if person is None:
        return _denied(401, "sign in first, or send an API token")
    return [
        Event(
            at=e.at, kind=e.kind, pr=e.pr_number, instance_id=e.instance_id, actor=e.actor, message=e.message
        )
        for e in event_views(web.store, limit, hide_output=not _sees_output(web, person))
    ]


@router.post(
    "/environments/{pr}/verify",
    summary="Sign off a PR's preview: verified (ok) or a problem found (note), at the commit it serves",
    status_code=202,
    response_model=Message,
)
def verify(web: WebParts, person: Actor, pr: int, body: SignOffBody) -> Any:
    return _acting(person, lambda p: web.actions.verify(pr, body.ok, body.note, p.actor), verifying=True)


@router.post(
    "/environments/{pr}/{verb}",
    summary="Redeploy, stop, wake, keep awake, let sleep or reset the database of a PR's environment",
    status_code=202,
    response_model=Message,
)
def environment(
    web: WebParts,
    person: Actor,
    pr: int,
    verb: str,
    hours: int | None = Query(None, description="keep-awake: for how many hours (left out: until let sleep)"),
) -> Any:
    return _acting(person, lambda p: web.actions.environment(pr, verb, p.actor, hours))


@router.post(
    "/servers/{instance_id}/{verb}",
    summary="Start (start-now) or stop (stop-now) a developer's server until its schedule next changes",
    status_code=202,
    response_model=Message,
)
def server(web: WebParts, person: Actor, instance_id: str, verb: str) -> Any:
    return _acting(person, lambda p: web.actions.server(instance_id, verb, p.actor))


@router.post(
    "/budget/lift",
    summary="Let instances start and launch past this month's budget",
    status_code=202,
    response_model=Message,
)
def lift_budget(web: WebParts, person: Actor) -> Any:
    return _acting(person, lambda p: web.actions.lift_budget(p.actor))


@router.post(
    "/instances/{instance_id}/{verb}",
    summary="Start (keep running while free), stop, retire or terminate (launched ones) a pool instance",
    status_code=202,
    response_model=Message,
)
def instance(web: WebParts, person: Actor, instance_id: str, verb: str) -> Any:
    return _acting(person, lambda p: web.actions.instance(instance_id, verb, p.actor))


@router.post(
    "/instances", summary="Register an instance into the pool", status_code=202, response_model=Message
)
def register(web: WebParts, person: Actor, body: Registration) -> Any:
    return _acting(person, lambda p: web.actions.register(body.instance_id, p.actor))


@router.post(
    "/launches",
    summary="Launch one more instance from the launch template (if the pool has room)",
    status_code=202,
    response_model=Message,
)
def launch_one(web: WebParts, person: Actor) -> Any:
    return _acting(person, lambda p: web.actions.launch_one(p.actor))


@router.post(
    "/releases/pending",
    summary="Post the waiting-for-release notice (merged PRs not in production) on the next pass",
    status_code=202,
    response_model=Message,
)
def pending_notice(web: WebParts, person: Actor) -> Any:
    return _acting(person, lambda p: web.actions.pending_notice(p.actor))


@router.get("/schemas", summary="The developer -> schema table", response_model=list[SchemaRow])
def schemas(web: WebParts, person: Reader) -> Any:
    if person is None:
        return _denied(401, "sign in first, or send an API token")
    return [
        SchemaRow(login=login, schema_name=schema, source=source, set_by=who, set_at=when)
        for login, schema, source, who, when in web.actions.schema_table()
    ]


@router.put("/schemas/{login}", summary="Set a developer's schema", status_code=202, response_model=Message)
def set_schema(web: WebParts, person: Actor, login: str, body: SchemaChoice) -> Any:
    return _acting(person, lambda p: web.actions.set_schema(login, body.schema_name, p.actor))


@router.delete(
    "/schemas/{login}",
    summary="Put a developer back on the config file's schema",
    status_code=202,
    response_model=Message,
)
def reset_schema(web: WebParts, person: Actor, login: str) -> Any:
    return _acting(person, lambda p: web.actions.reset_schema(login, p.actor))


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    """Refused input answers like every other refusal: 422 and a message naming the problem."""
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    )
    return JSONResponse({"message": problems or "invalid request"}, status_code=422)


def install(app: FastAPI) -> None:
    """The API's routes; a failure's output goes to readers who may not act only with
    ``report.show_output``."""
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _invalid)
    _describe(app)


def _status_components() -> dict[str, Any]:
    """The status schema and its $defs as OpenAPI components (refs rewritten to match)."""
    schema = status_schema()
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (v.replace("#/$defs/", "#/components/schemas/Status_") if k == "$ref" else rewrite(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    components = {f"Status_{name}": rewrite(d) for name, d in defs.items()}
    components["Status"] = rewrite(schema)
    return components


def _referenced(node: Any, schemas: dict[str, Any]) -> set[str]:
    """The component schemas ``node`` refers to, and those they refer to."""
    found: set[str] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    todo.append(schemas[name])
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def _describe(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title="pullrekun",
                version="1",
                summary="Per-pull-request preview environments: read them, and ask for changes.",
                routes=app.routes,
            )
            # The API and the health check; not the pages, GitHub's webhook or the metrics.
            doc["paths"] = {p: v for p, v in doc["paths"].items() if p.startswith(("/api/", "/healthz"))}
            components = doc.setdefault("components", {})
            schemas = {**components.get("schemas", {}), **_status_components()}
            components["schemas"] = {
                name: schemas[name] for name in sorted(_referenced(doc["paths"], schemas))
            }
            components["securitySchemes"] = {
                "token": {"type": "http", "scheme": "bearer", "description": "`pullrekun api-token NAME`"}
            }
            doc["security"] = [{"token": []}]
            app.openapi_schema = copy.deepcopy(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
