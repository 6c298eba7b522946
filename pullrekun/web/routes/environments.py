"""The environments page (the dashboard's front page) and what people may ask of one."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from pullrekun.adapters.project import templates_dir
from pullrekun.app.readmodel import event_views, last_deploys
from pullrekun.web.auth import CSRF_FIELD
from pullrekun.web.context import Asker, Web, WebParts, act, to_login
from pullrekun.web.pageviews import DeployView

router = APIRouter()
STATIC = {"app.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}


@router.get("/", response_class=HTMLResponse)
def environments(request: Request, web: WebParts, person: Asker) -> Response:
    if person is None:
        return to_login()
    hide = web.hides_output(person)
    snap = web.read()
    return web.page(
        request,
        "environments.html.j2",
        snap=snap.without_output() if hide else snap,
        events=event_views(web.store, 30, hide),
        verbs=web.actions.environment_verbs(),
        now=dt.datetime.now(dt.UTC),
        last_deploys=last_deploys(web.store),
        scenarios={p.number: p.scenario for p in snap.pull_requests if p.scenario is not None},
        signoffs=web.store.signoffs.latest(),
    )


@router.get("/environments/{pr}", response_class=HTMLResponse)
def environment_page(request: Request, web: WebParts, person: Asker, pr: int) -> Response:
    """One PR's page: its state, scenario, sign-offs, recent deploys and what failed."""
    if person is None:
        return to_login()
    hide = web.hides_output(person)
    snap = web.read()
    snap = snap.without_output() if hide else snap
    pull = next((p for p in snap.pull_requests if p.number == pr), None)
    env = snap.environment(pr)
    deploys = [
        DeployView(d.pr_number, d.sha, d.status, d.started_at, d.reason, d.failed_task, d.failed_step)
        for d in reversed(web.store.journal.deployments(pr)[-20:])
    ]
    return web.page(
        request,
        "environment.html.j2",
        404 if pull is None and env is None else 200,
        pr=pr,
        pull=pull,
        env=env,
        signoffs=web.store.signoffs.history(pr),
        deploys=deploys,
        setting_names=web.cfg.app.pr_settings,
        settings=web.store.settings.recorded().get(pr, {}),
        applied=dict(env_settings(web, pr)),
        scenario_heading=web.cfg.report.scenario_heading,
    )


def env_settings(web: Web, pr: int) -> tuple[tuple[str, str], ...]:
    """What the PR's environment last got of its own settings."""
    env = next((e for e in web.store.journal.environments() if e.assignment.pr_number == pr), None)
    return env.assignment.settings if env is not None else ()


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    return Response((templates_dir() / "web" / "static" / name).read_bytes(), media_type=STATIC[name])


@router.post("/environments/{pr}/verify")
def verify(
    request: Request,
    web: WebParts,
    person: Asker,
    pr: int,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
    verdict: str = Form(""),
    note: str = Form(""),
) -> Response:
    """*Verified* or *Problem found* (with a note): those who may act, and the verifiers."""
    if verdict not in ("ok", "problem"):
        return Response("verdict must be ok or problem", status_code=422)
    ok = verdict == "ok"
    return act(
        request, person, csrf_token_sent, lambda p: web.actions.verify(pr, ok, note, p.actor), verifying=True
    )


@router.post("/environments/{pr}/settings")
def set_setting(
    request: Request,
    web: WebParts,
    person: Asker,
    pr: int,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
    name: str = Form(""),
    value: str = Form(""),
) -> Response:
    """Set one of the PR's own settings ([app] pr_settings): those who may act."""
    back = f"/environments/{pr}"
    return act(
        request, person, csrf_token_sent, lambda p: web.actions.set_setting(pr, name, value, p.actor), back
    )


@router.post("/environments/{pr}/{verb}")
def environment_action(
    request: Request,
    web: WebParts,
    person: Asker,
    pr: int,
    verb: str,
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
    hours: str = Form(""),
) -> Response:
    if verb not in web.actions.environment_verbs():
        return Response(f"no such action: {verb}", status_code=404)
    if hours and not hours.isdigit():
        return Response("hours must be a whole number", status_code=422)
    pin = int(hours) if hours else None
    return act(request, person, csrf_token_sent, lambda p: web.actions.environment(pr, verb, p.actor, pin))


@router.post("/budget/lift")
def lift_budget(
    request: Request, web: WebParts, person: Asker, csrf_token_sent: str = Form("", alias=CSRF_FIELD)
) -> Response:
    return act(request, person, csrf_token_sent, lambda p: web.actions.lift_budget(p.actor))
