"""The dashboard: every environment, the pool, the queue, GitHub's rate limit and who did what.

Server-rendered pages that read without JavaScript; with JavaScript a small script
(``templates/web/static/live.js``) refreshes each environment's row from ``/api/v1/status``.
An action never runs Ansible: it records a request in the state DB, with who asked, and
pokes the trigger; the next pass's planner decides (pullrekun.core.planner).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.middleware.sessions import SessionMiddleware

from pullrekun.adapters import ec2
from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.adapters.project import templates_dir
from pullrekun.adapters.state.sessions import SESSION_HOURS, WebSessions
from pullrekun.adapters.state.store import Store
from pullrekun.app.pool import read_pool
from pullrekun.app.readmodel import Snapshot, event_views, snapshot
from pullrekun.app.trigger import PassTrigger
from pullrekun.config import Config
from pullrekun.core.model import Instance
from pullrekun.web import api
from pullrekun.web.actions import INSTANCE_VERBS, Actions, Answer
from pullrekun.web.auth import CSRF_FIELD, Accounts, Person, Role, csrf_ok, csrf_token, session_of, sign_in
from pullrekun.web.oauth import GitHubSignIn, RepoAccess, SignInFailed
from pullrekun.web.throttle import LoginThrottle

log = logging.getLogger(__name__)

STATIC = {"app.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    # Scripts and styles from this server only: nothing a PR author wrote can run here.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class GitHubAuth:
    """Sign-in with GitHub, and the repository access that decides what a person may do."""

    sign_in: GitHubSignIn
    access: RepoAccess


class PoolCache:
    """The pool as EC2 last said, read at most every ``ttl`` seconds (pages poll; EC2 is not free)."""

    def __init__(self, cfg: Config, ttl: float = 15.0) -> None:
        self._cfg = cfg
        self._ttl = ttl
        self._lock = threading.Lock()
        self._at = -ttl
        self._value: tuple[Mapping[str, Instance] | None, str | None] = (None, None)

    def get(self) -> tuple[Mapping[str, Instance] | None, str | None]:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                try:
                    self._value = (read_pool(self._cfg).by_id(), None)
                except ec2.EC2Unavailable as exc:
                    self._value = (None, str(exc))
                self._at = time.monotonic()
            return self._value

    def invalidate(self) -> None:
        """Read EC2 again on the next request (a pass has just changed the pool)."""
        with self._lock:
            self._at = -self._ttl


def install(
    app: FastAPI,
    cfg: Config,
    store: Store,
    trigger: PassTrigger,
    accounts: Accounts,
    session_key: str,
    pool: PoolCache | None = None,
    github: GitHubAuth | None = None,
) -> None:
    """Add the dashboard's routes (and its session middleware) to ``app``."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key,
        session_cookie="pullrekun_session",
        max_age=SESSION_HOURS * 3600,
        same_site="lax",
        https_only=cfg.serve.secure_cookies,
    )
    pool = pool or PoolCache(cfg)
    actions = Actions(cfg, store, trigger, lambda: pool.get()[0])
    sessions = WebSessions(store)
    throttle = LoginThrottle()

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    tokens = api.Tokens(cfg.serve)
    pages = Environment(
        loader=FileSystemLoader(str(templates_dir() / "web")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )

    def read() -> Snapshot:
        instances, problem = pool.get()
        return snapshot(cfg, store, instances=instances, pool_problem=problem)

    def who(request: Request) -> Person | None:
        """The signed-in person; for a GitHub sign-in, with the access GitHub gives them now.
        Judged once per request (a route and the page it renders both ask)."""
        if not hasattr(request.state, "person"):
            request.state.person = _judge(request)
        person: Person | None = request.state.person
        return person

    def _judge(request: Request) -> Person | None:
        """Who the request's session is (a live row in the state DB), with the role the config
        (a local account) or GitHub gives them now; a session whose person lost access ends."""
        found = session_of(request)
        if found is None:
            return None
        actor, sid = found
        if not sessions.valid(sid, actor, now()):
            request.session.clear()
            return None
        kind, name = actor.split(":", 1)
        role: Role | None = None
        if kind == "local":
            role = accounts.role_of(name)
        elif kind == "github" and github is not None:
            try:
                role = github.access.role(name)
            except GitHubUnavailable as exc:
                log.warning("GitHub could not confirm %s's access (%s): looking only", name, exc)
                return Person(actor, Role.VIEWER)
        if role is None:
            sessions.end(sid)
            request.session.clear()
            return None
        return Person(actor, role)

    def hides_output(person: Person) -> bool:
        """A failure's output (printed by the PR's code) is for those who may act, unless
        ``report.show_output`` lets everyone who may look read it."""
        return not person.may_act and not cfg.report.show_output

    def start_session(request: Request, actor: str) -> None:
        sign_in(request, actor, sessions.start(actor, now()))

    def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = pages.get_template(name).render(
            repository=cfg.github.repository,
            person=who(request),
            csrf=csrf_token(request),
            flash=request.session.pop("flash", None),
            flash_refused=request.session.pop("flash_refused", False),
            pr_url=cfg.github.pr_url,
            has_database=cfg.database is not None,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    api.install(app, store, actions, tokens, read, who, show_output=cfg.report.show_output)

    def login_page(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        return page(
            request,
            "login.html.j2",
            status=status,
            error=error,
            local=bool(accounts),
            github=github is not None,
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return login_page(request)

    def callback_url(request: Request) -> str:
        base = cfg.serve.public_url.rstrip("/") if cfg.serve.public_url else str(request.base_url).rstrip("/")
        return f"{base}/auth/github"

    @app.get("/auth/github/start")
    def github_start(request: Request) -> Response:
        if github is None:
            return Response("sign-in with GitHub is not configured", status_code=404)
        url, state = github.sign_in.authorize_url(callback_url(request))
        request.session["oauth_state"] = state
        return RedirectResponse(url, status_code=303)

    @app.get("/auth/github")
    def github_callback(request: Request, code: str = "", state: str = "") -> Response:
        if github is None:
            return Response("sign-in with GitHub is not configured", status_code=404)
        expected = request.session.pop("oauth_state", None)
        if not isinstance(expected, str) or not state or not hmac.compare_digest(expected, state):
            return login_page(request, 403, "The sign-in expired or did not start here: sign in again.")
        try:
            login = github.sign_in.login_of(callback_url(request), code, state)
            role = github.access.role(login)
        except (SignInFailed, GitHubUnavailable) as exc:
            return login_page(request, 502, str(exc))
        if role is None:
            return login_page(request, 403, f"{login} has no access to {cfg.github.repository}.")
        start_session(request, f"github:{login}")
        return RedirectResponse("/", status_code=303)

    @app.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        login: str = Form(""),
        password: str = Form(""),
        csrf_token_sent: str = Form("", alias=CSRF_FIELD),
    ) -> Response:
        if not csrf_ok(request, csrf_token_sent):
            return login_page(request, 403, "The form expired: sign in again.")
        address = request.client.host if request.client else ""
        wait = throttle.attempt(login, address)
        if wait:
            seconds = math.ceil(wait)
            refused = login_page(request, 429, f"Too many sign-in attempts: try again in {seconds} s.")
            refused.headers["Retry-After"] = str(seconds)
            return refused
        person = accounts.verify(login, password)
        if person is None:
            return login_page(request, 401, "Wrong login or password.")
        throttle.succeeded(login, address)
        start_session(request, person.actor)
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf_token_sent: str = Form("", alias=CSRF_FIELD)) -> Response:
        if csrf_ok(request, csrf_token_sent):
            found = session_of(request)
            if found is not None:
                sessions.end(found[1])  # a copy of the cookie ends with it
            request.session.clear()
        return to_login()

    @app.get("/", response_class=HTMLResponse)
    def environments(request: Request) -> Response:
        person = who(request)
        if person is None:
            return to_login()
        hide = hides_output(person)
        return page(
            request,
            "environments.html.j2",
            snap=read().without_output() if hide else read(),
            events=event_views(store, 30, hide),
            verbs=actions.environment_verbs(),
            now=dt.datetime.now(dt.UTC),
            last_deploys=store.journal.last_deployments(),
        )

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404)
        return Response((templates_dir() / "web" / "static" / name).read_bytes(), media_type=STATIC[name])

    def act(request: Request, sent: str, do: Callable[[Person], Answer], back: str = "/") -> Response:
        person = who(request)
        if person is None:
            return to_login()
        refused = _refusal(request, person, sent)
        if refused is not None:
            return refused
        answer = do(person)
        request.session["flash"] = answer.message
        request.session["flash_refused"] = not answer.ok
        return RedirectResponse(back, status_code=303)

    @app.post("/environments/{pr}/{verb}")
    def environment_action(
        request: Request, pr: int, verb: str, csrf_token_sent: str = Form("", alias=CSRF_FIELD)
    ) -> Response:
        if verb not in actions.environment_verbs():
            return Response(f"no such action: {verb}", status_code=404)
        return act(request, csrf_token_sent, lambda person: actions.environment(pr, verb, person.actor))

    @app.post("/instances/{instance_id}/{verb}")
    def instance_action(
        request: Request, instance_id: str, verb: str, csrf_token_sent: str = Form("", alias=CSRF_FIELD)
    ) -> Response:
        if verb not in INSTANCE_VERBS:
            return Response(f"no such action: {verb}", status_code=404)
        return act(request, csrf_token_sent, lambda person: actions.instance(instance_id, verb, person.actor))

    @app.post("/instances")
    def register_instance(
        request: Request, instance_id: str = Form(""), csrf_token_sent: str = Form("", alias=CSRF_FIELD)
    ) -> Response:
        return act(
            request, csrf_token_sent, lambda person: actions.register(instance_id.strip(), person.actor)
        )

    @app.post("/releases/pending")
    def pending_notice(request: Request, csrf_token_sent: str = Form("", alias=CSRF_FIELD)) -> Response:
        return act(
            request, csrf_token_sent, lambda person: actions.pending_notice(person.actor), back="/#releases"
        )

    @app.get("/schemas", response_class=HTMLResponse)
    def schemas(request: Request) -> Response:
        if who(request) is None:
            return to_login()
        if cfg.database is None:
            return Response(
                "environments have no databases here ([database] is not configured)", status_code=404
            )
        return page(
            request,
            "schemas.html.j2",
            table=actions.schema_table(),
            default_source=cfg.database.default_source,
        )

    @app.post("/schemas")
    def set_schema(
        request: Request,
        login: str = Form(""),
        schema_name: str = Form("", alias="schema"),
        csrf_token_sent: str = Form("", alias=CSRF_FIELD),
    ) -> Response:
        return act(
            request,
            csrf_token_sent,
            lambda person: actions.set_schema(login.strip(), schema_name.strip(), person.actor),
            back="/schemas",
        )

    @app.post("/schemas/{login}/reset")
    def reset_schema(
        request: Request, login: str, csrf_token_sent: str = Form("", alias=CSRF_FIELD)
    ) -> Response:
        return act(
            request,
            csrf_token_sent,
            lambda person: actions.reset_schema(login, person.actor),
            back="/schemas",
        )


def _refusal(request: Request, person: Person, sent: str) -> Response | None:
    if not csrf_ok(request, sent):
        return Response("refused: the form's CSRF token is missing or wrong", status_code=403)
    if not person.may_act:
        return Response(f"refused: {person.name} may look but not act", status_code=403)
    return None
