"""What every page and API route shares: the dashboard's parts, and who is asking.

:func:`who_is_asking` is a FastAPI dependency (``Asker``): the signed-in person, judged once per
request from the session row in the state DB and the role the config (a local account) or
GitHub gives them now.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from pullrekun.adapters import ec2
from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.adapters.state.sessions import WebSessions
from pullrekun.adapters.state.store import Store
from pullrekun.app.pool import read_pool
from pullrekun.app.readmodel import Snapshot, snapshot
from pullrekun.config import Config
from pullrekun.core.model import Instance
from pullrekun.core.servers import Server
from pullrekun.web.actions import Actions, Answer
from pullrekun.web.auth import Accounts, Person, Role, csrf_ok, csrf_token, session_of, sign_in
from pullrekun.web.oauth import GitHubSignIn, RepoAccess
from pullrekun.web.pages import pages
from pullrekun.web.throttle import LoginThrottle
from pullrekun.web.tokens import Tokens

log = logging.getLogger(__name__)

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
        self._servers: tuple[Server, ...] = ()

    def get(self) -> tuple[Mapping[str, Instance] | None, str | None]:
        with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                try:
                    reading = read_pool(self._cfg)
                    self._value, self._servers = (reading.by_id(), None), reading.servers
                except ec2.EC2Unavailable as exc:
                    self._value, self._servers = (None, str(exc)), ()
                self._at = time.monotonic()
            return self._value

    def servers(self) -> tuple[Server, ...]:
        """Developers' servers as EC2 last said (read with the pool)."""
        self.get()
        with self._lock:
            return self._servers

    def invalidate(self) -> None:
        """Read EC2 again on the next request (a pass has just changed the pool)."""
        with self._lock:
            self._at = -self._ttl


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Web:
    """The dashboard's parts, kept on ``app.state.web``."""

    cfg: Config
    store: Store
    actions: Actions
    accounts: Accounts
    pool: PoolCache
    github: GitHubAuth | None = None
    tokens: Tokens = field(init=False)
    sessions: WebSessions = field(init=False)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    pages: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.pages = pages(self.cfg.report.templates_dir, self.cfg.serve.time_zone)
        self.tokens = Tokens(self.cfg.serve)
        self.sessions = WebSessions(self.store)

    def read(self) -> Snapshot:
        """The read model, with the pool as EC2 last said."""
        instances, problem = self.pool.get()
        servers = self.pool.servers()
        return snapshot(self.cfg, self.store, instances=instances, pool_problem=problem, servers=servers)

    def env_link(self, pr: int, url: str) -> str:
        """The link the dashboard shows: through ``/e/<pr>`` with ``serve.wake_links``."""
        return f"/e/{pr}" if self.cfg.serve.wake_links else url

    def hides_output(self, person: Person) -> bool:
        """A failure's output (printed by the PR's code) is for those who may act, unless
        ``report.show_output`` lets everyone who may look read it."""
        return not person.may_act and not self.cfg.report.show_output

    def judge(self, request: Request) -> Person | None:
        """Who the request's session is (a live row in the state DB), with the role the config
        (a local account) or GitHub gives them now; a session whose person lost access ends."""
        found = session_of(request)
        if found is None:
            return None
        actor, sid = found
        if not self.sessions.valid(sid, actor, utcnow()):
            request.session.clear()
            return None
        kind, name = actor.split(":", 1)
        role: Role | None = None
        if kind == "local":
            role = self.accounts.role_of(name)
        elif kind == "github" and self.github is not None:
            try:
                role = self.github.access.role(name)
            except GitHubUnavailable as exc:
                log.warning("GitHub could not confirm %s's access (%s): looking only", name, exc)
                return Person(actor, Role.VIEWER)
        if role is None:
            self.sessions.end(sid)
            request.session.clear()
            return None
        return Person(actor, role)

    def start_session(self, request: Request, actor: str) -> None:
        sign_in(request, actor, self.sessions.start(actor, utcnow()))

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.pages.get_template(name).render(
            repository=self.cfg.github.repository,
            person=who_is_asking(request),
            csrf=csrf_token(request),
            flash=request.session.pop("flash", None),
            flash_refused=request.session.pop("flash_refused", False),
            pr_url=self.cfg.github.pr_url,
            has_database=self.cfg.database is not None,
            env_link=self.env_link,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def who_is_asking(request: Request) -> Person | None:
    """The signed-in person, or None; judged once per request (a route and its page both ask)."""
    if not hasattr(request.state, "person"):
        request.state.person = web_of(request).judge(request)
    person: Person | None = request.state.person
    return person


WebParts = Annotated[Web, Depends(web_of)]
Asker = Annotated[Person | None, Depends(who_is_asking)]


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def refusal(request: Request, person: Person, sent: str, verifying: bool = False) -> Response | None:
    if not csrf_ok(request, sent):
        return Response("refused: the form's CSRF token is missing or wrong", status_code=403)
    if verifying and not person.may_verify:
        return Response(f"refused: {person.name} may look but not sign off", status_code=403)
    if not verifying and not person.may_act:
        return Response(f"refused: {person.name} may look but not act", status_code=403)
    return None


def act(
    request: Request,
    person: Person | None,
    sent: str,
    do: Callable[[Person], Answer],
    back: str = "/",
    verifying: bool = False,
) -> Response:
    """A form's action: signed in, CSRF token right, allowed to act (``verifying``: to sign
    off); the answer is flashed."""
    if person is None:
        return to_login()
    refused = refusal(request, person, sent, verifying)
    if refused is not None:
        return refused
    answer = do(person)
    request.session["flash"] = answer.message
    request.session["flash_refused"] = not answer.ok
    return RedirectResponse(back, status_code=303)
