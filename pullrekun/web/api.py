"""The JSON API under /api/v1: the dashboard's data and actions for scripts and bots.

Reads take a session cookie (the dashboard's live refresh) or a token; actions take a token
only (``Authorization: Bearer <token>``), so a page elsewhere cannot make a signed-in
browser act. Tokens are configured by their SHA-256 (``pullrekun api-token NAME``): admin
tokens may act, viewer tokens read; an action is recorded as ``token:<name>``. Actions call
the same checks as the dashboard's forms (pullrekun.web.actions) and answer 202 when a
request was recorded for the next pass.

The OpenAPI document (``/openapi.json``) describes these routes only; the status object is
the read model's JSON schema (pullrekun/app/status.schema.json), the one ``status --json``
prints.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pullrekun.adapters.state.store import Store
from pullrekun.app.readmodel import Snapshot, event_views
from pullrekun.config import ServeConfig
from pullrekun.web.actions import Actions, Answer
from pullrekun.web.auth import Person, Role

STATUS_SCHEMA_FILE = Path(__file__).resolve().parent.parent / "app" / "status.schema.json"
TOKEN_PREFIX = "prk_"  # noqa: S105 - a prefix, not a token


def new_token() -> tuple[str, str]:
    """A new API token and the SHA-256 the config keeps of it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, cfg: ServeConfig) -> None:
        self._known = [(d, name, Role.VIEWER) for name, d in cfg.viewer_tokens.items()]
        self._known += [(d, name, Role.ADMIN) for name, d in cfg.admin_tokens.items()]

    def person(self, authorization: str | None) -> Person | None:
        """Whose token this is (every known digest is compared, in constant time)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = token_digest(authorization.removeprefix("Bearer ").strip())
        found = None
        for known, name, role in self._known:
            if hmac.compare_digest(known, digest):
                found = Person(f"token:{name}", role)
        return found


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


def install(
    app: FastAPI,
    store: Store,
    actions: Actions,
    tokens: Tokens,
    read: Callable[[], Snapshot],
    session_person: Callable[[Request], Person | None],
    show_output: bool = True,
) -> None:
    """The API's routes; a failure's output goes to readers who may not act only with
    ``show_output`` (``report.show_output``)."""
    api = APIRouter(prefix="/api/v1", tags=["api"], responses=_ERRORS)

    def reader(request: Request) -> Person | None:
        return tokens.person(request.headers.get("authorization")) or session_person(request)

    def denied(status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status, headers={"Cache-Control": "no-store"})

    def acting(request: Request, do: Callable[[Person], Answer]) -> JSONResponse:
        person = tokens.person(request.headers.get("authorization"))
        if person is None:
            return denied(401, "actions need an API token: Authorization: Bearer <token>")
        if not person.may_act:
            return denied(403, f"{person.name} may read but not act")
        answer = do(person)
        return JSONResponse({"message": answer.message}, status_code=answer.status)

    @api.get(
        "/status",
        summary="Every environment, the pool, the queue and GitHub's rate limit",
        responses={
            200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}
        },
    )
    def status(request: Request) -> JSONResponse:
        person = reader(request)
        if person is None:
            return denied(401, "sign in first, or send an API token")
        snap = read() if person.may_act or show_output else read().without_output()
        return JSONResponse(snap.to_json(), headers={"Cache-Control": "no-store"})

    @api.get("/events", summary="The activity log, newest first", response_model=list[Event])
    def events(request: Request, limit: int = Query(50, ge=1, le=500)) -> Any:
        person = reader(request)
        if person is None:
            return denied(401, "sign in first, or send an API token")
        return [
            Event(
                at=e.at,
                kind=e.kind,
                pr=e.pr_number,
                instance_id=e.instance_id,
                actor=e.actor,
                message=e.message,
            )
            for e in event_views(store, limit, hide_output=not (person.may_act or show_output))
        ]

    @api.post(
        "/environments/{pr}/{verb}",
        summary="Redeploy, stop, wake or reset the database of a PR's environment",
        status_code=202,
        response_model=Message,
    )
    def environment(request: Request, pr: int, verb: str) -> Any:
        return acting(request, lambda person: actions.environment(pr, verb, person.actor))

    @api.post(
        "/instances/{instance_id}/{verb}",
        summary="Start (keep running while free), stop or retire a pool instance",
        status_code=202,
        response_model=Message,
    )
    def instance(request: Request, instance_id: str, verb: str) -> Any:
        return acting(request, lambda person: actions.instance(instance_id, verb, person.actor))

    @api.post(
        "/instances", summary="Register an instance into the pool", status_code=202, response_model=Message
    )
    def register(request: Request, body: Registration) -> Any:
        return acting(request, lambda person: actions.register(body.instance_id, person.actor))

    @api.post(
        "/releases/pending",
        summary="Post the waiting-for-release notice (merged PRs not in production) on the next pass",
        status_code=202,
        response_model=Message,
    )
    def pending_notice(request: Request) -> Any:
        return acting(request, lambda person: actions.pending_notice(person.actor))

    @api.get("/schemas", summary="The developer -> schema table", response_model=list[SchemaRow])
    def schemas(request: Request) -> Any:
        if reader(request) is None:
            return denied(401, "sign in first, or send an API token")
        return [
            SchemaRow(login=login, schema_name=schema, source=source, set_by=who, set_at=when)
            for login, schema, source, who, when in actions.schema_table()
        ]

    @api.put("/schemas/{login}", summary="Set a developer's schema", status_code=202, response_model=Message)
    def set_schema(request: Request, login: str, body: SchemaChoice) -> Any:
        return acting(request, lambda person: actions.set_schema(login, body.schema_name, person.actor))

    @api.delete(
        "/schemas/{login}",
        summary="Put a developer back on the config file's schema",
        status_code=202,
        response_model=Message,
    )
    def reset_schema(request: Request, login: str) -> Any:
        return acting(request, lambda person: actions.reset_schema(login, person.actor))

    app.include_router(api)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """Refused input answers like every other refusal: 422 and a message naming the problem."""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return JSONResponse({"message": problems or "invalid request"}, status_code=422)

    _describe(app)


def _status_components() -> dict[str, Any]:
    """The status schema and its $defs as OpenAPI components (refs rewritten to match)."""
    schema = json.loads(STATUS_SCHEMA_FILE.read_text())
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
