"""Signing in and out: local accounts (throttled) and GitHub's web flow."""

from __future__ import annotations

import hmac
import math

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.web.auth import CSRF_FIELD, csrf_ok, session_of
from pullrekun.web.context import Web, WebParts, to_login
from pullrekun.web.oauth import SignInFailed
from pullrekun.web.routes.wake import after_login

router = APIRouter()


def login_page(web: Web, request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    return web.page(
        request,
        "login.html.j2",
        status=status,
        error=error,
        local=bool(web.accounts),
        github=web.github is not None,
    )


def callback_url(web: Web, request: Request) -> str:
    public = web.cfg.serve.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}/auth/github"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, web: WebParts) -> Response:
    return login_page(web, request)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    web: WebParts,
    login: str = Form(""),
    password: str = Form(""),
    csrf_token_sent: str = Form("", alias=CSRF_FIELD),
) -> Response:
    if not csrf_ok(request, csrf_token_sent):
        return login_page(web, request, 403, "The form expired: sign in again.")
    address = request.client.host if request.client else ""
    wait = web.throttle.attempt(login, address)
    if wait:
        seconds = math.ceil(wait)
        refused = login_page(web, request, 429, f"Too many sign-in attempts: try again in {seconds} s.")
        refused.headers["Retry-After"] = str(seconds)
        return refused
    person = web.accounts.verify(login, password)
    if person is None:
        return login_page(web, request, 401, "Wrong login or password.")
    web.throttle.succeeded(login, address)
    back = after_login(request)  # read before the session starts afresh
    web.start_session(request, person.actor)
    return RedirectResponse(back, status_code=303)


@router.post("/logout")
def logout(request: Request, web: WebParts, csrf_token_sent: str = Form("", alias=CSRF_FIELD)) -> Response:
    if csrf_ok(request, csrf_token_sent):
        found = session_of(request)
        if found is not None:
            web.sessions.end(found[1])  # a copy of the cookie ends with it
        request.session.clear()
    return to_login()


@router.get("/auth/github/start")
def github_start(request: Request, web: WebParts) -> Response:
    if web.github is None:
        return Response("sign-in with GitHub is not configured", status_code=404)
    url, state = web.github.sign_in.authorize_url(callback_url(web, request))
    request.session["oauth_state"] = state
    return RedirectResponse(url, status_code=303)


@router.get("/auth/github")
def github_callback(request: Request, web: WebParts, code: str = "", state: str = "") -> Response:
    if web.github is None:
        return Response("sign-in with GitHub is not configured", status_code=404)
    expected = request.session.pop("oauth_state", None)
    if not isinstance(expected, str) or not state or not hmac.compare_digest(expected, state):
        return login_page(web, request, 403, "The sign-in expired or did not start here: sign in again.")
    try:
        login = web.github.sign_in.login_of(callback_url(web, request), code, state)
        role = web.github.access.role(login)
    except (SignInFailed, GitHubUnavailable) as exc:
        return login_page(web, request, 502, str(exc))
    if role is None:
        return login_page(web, request, 403, f"{login} has no access to {web.cfg.github.repository}.")
    back = after_login(request)
    web.start_session(request, f"github:{login}")
    return RedirectResponse(back, status_code=303)
