"""GitHub's OAuth web flow, as the simulator serves it (on its web address, like github.com).

``GET /login/oauth/authorize`` shows the page where a person grants an OAuth app access (here:
types the login they are, since the simulator has no accounts of its own) and ``POST`` of that
page sends them back to the app's callback with a one-time ``code`` and the app's ``state``.
``POST /login/oauth/access_token`` trades the code, with the app's client id and secret, for a
user token; GitHub answers errors there with 200 and an ``error`` field, and so does this.
``GET /user`` with that token is the person's profile (github_sim.py).
"""

from __future__ import annotations

import html
import json
import secrets
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from pullrekun.core.validate import LOGIN_RE


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    #: Redirect URIs must start with this (GitHub's rule for an OAuth app's callback URL).
    callback_url: str


@dataclass
class _Grant:
    client_id: str
    login: str
    redirect_uri: str


class OAuthEndpoints:
    """Mixed into GitHubSimulator."""

    oauth_apps: dict[str, OAuthApp]
    #: User tokens handed out, token -> login.
    user_tokens: dict[str, str]
    _codes: dict[str, _Grant]
    #: What the authorize page's login field says first (a test may just press Authorize).
    oauth_login: str

    def register_oauth_app(self, client_id: str, client_secret: str, callback_url: str) -> None:
        self.oauth_apps[client_id] = OAuthApp(client_id, client_secret, callback_url)

    def _oauth(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str], raw: bytes) -> bool:
        """Serve an OAuth request; False when ``path`` is none of GitHub's OAuth pages."""
        if path == "/login/oauth/authorize" and h.command == "GET":
            self._authorize_page(h, query)
        elif path == "/login/oauth/authorize" and h.command == "POST":
            self._grant(h, dict(urllib.parse.parse_qsl(raw.decode(errors="replace"))))
        elif path == "/login/oauth/access_token" and h.command == "POST":
            self._token(h, raw, h.headers.get("Content-Type", ""))
        else:
            return False
        return True

    def _app_for(self, params: dict[str, str]) -> OAuthApp | None:
        app = self.oauth_apps.get(params.get("client_id", ""))
        redirect = params.get("redirect_uri") or (app.callback_url if app else "")
        if app is None or not redirect.startswith(app.callback_url):
            return None
        return app

    def _authorize_page(self, h: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        app = self._app_for(query)
        if app is None:
            self._html(
                h, 404, "<h1>The application is not known, or its redirect_uri is not its callback URL</h1>"
            )
            return
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(query.get(k, ""))}">'
            for k in ("client_id", "redirect_uri", "state")
        )
        self._html(
            h,
            200,
            f"<h1>Authorize {html.escape(app.client_id)}</h1>"
            '<form method="post" action="/login/oauth/authorize">'
            f"{hidden}<label>Signed in to GitHub as "
            f'<input name="login" value="{html.escape(self.oauth_login)}"></label>'
            ' <button type="submit" id="js-oauth-authorize-btn">Authorize</button></form>',
        )

    def _grant(self, h: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        app = self._app_for(form)
        login = form.get("login", "")
        if app is None or not LOGIN_RE.match(login):
            self._html(h, 400, "<h1>Bad authorization request</h1>")
            return
        redirect = form.get("redirect_uri") or app.callback_url
        code = secrets.token_hex(10)
        self._codes[code] = _Grant(app.client_id, login, redirect)
        sep = "&" if "?" in redirect else "?"
        location = f"{redirect}{sep}{urllib.parse.urlencode({'code': code, 'state': form.get('state', '')})}"
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _token(self, h: BaseHTTPRequestHandler, raw: bytes, content_type: str) -> None:
        text = raw.decode(errors="replace")
        params: dict[str, Any] = (
            json.loads(text or "{}") if "json" in content_type else dict(urllib.parse.parse_qsl(text))
        )
        app = self.oauth_apps.get(str(params.get("client_id", "")))
        grant = self._codes.pop(str(params.get("code", "")), None)  # a code is good once
        if app is None or not secrets.compare_digest(app.client_secret, str(params.get("client_secret", ""))):
            answer: dict[str, Any] = {"error": "incorrect_client_credentials"}
        elif grant is None or grant.client_id != app.client_id:
            answer = {
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
            }
        elif params.get("redirect_uri") and params["redirect_uri"] != grant.redirect_uri:
            answer = {"error": "redirect_uri_mismatch"}
        else:
            token = "gho_" + secrets.token_hex(18)
            self.user_tokens[token] = grant.login
            answer = {"access_token": token, "token_type": "bearer", "scope": ""}
        raw_answer = json.dumps(answer).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(raw_answer)))
        h.end_headers()
        h.wfile.write(raw_answer)

    @staticmethod
    def _html(h: BaseHTTPRequestHandler, status: int, body: str) -> None:
        raw = f"<!doctype html><html><body>{body}</body></html>".encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)
