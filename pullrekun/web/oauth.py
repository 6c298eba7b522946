"""Sign in with GitHub: the OAuth web flow (Authlib), and what a person may do on the repository.

The flow: ``/auth/github/start`` sends the browser to GitHub's authorize page with a random
``state`` kept in the session; GitHub sends it back to ``/auth/github`` with a code, which is
traded (with the app's client secret) for a user token; the token is used once, to ask GitHub
who the person is, and dropped. What they may do is then asked of GitHub with pullrekun's own
credentials (``GET /repos/{owner}/{repo}/collaborators/{login}/permission``), so the sign-in
asks for no scope at all: the roles in ``serve.acting_permissions`` (write, maintain, admin by
default) may act; read may look, except on a public repository, where anyone may read: there
triage or more, or a login in ``serve.viewers_github``, may look; anyone else is refused. The
answer is kept ``serve.access_cache_seconds`` and asked again after, so access removed on
GitHub ends on the dashboard within that time. ``serve.verifiers_github`` names logins and teams
("acme/qa": ``GET /orgs/{org}/teams/{team_slug}/memberships/{username}``, an active member)
who may sign off previews.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from urllib.parse import quote

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from pullrekun.adapters.github.client import GitHubClient, GitHubFacts, GitHubUnavailable
from pullrekun.config import Config
from pullrekun.config.secrets import github_token
from pullrekun.core.validate import LOGIN_RE
from pullrekun.web.auth import Role

#: GitHub's repository roles (``role_name``); a custom role falls back to ``permission``.
ROLES = frozenset({"admin", "maintain", "write", "triage", "read"})


class SignInFailed(Exception):
    """GitHub did not confirm who the person is (the message says why; no secret in it)."""


class RepoAccess:
    """A person's role on the repository as GitHub says it, kept for ``ttl`` seconds."""

    def __init__(self, cfg: Config, facts: GitHubFacts, ttl: float) -> None:
        self._cfg = cfg
        self._facts = facts
        self._ttl = ttl
        self._lock = threading.Lock()
        self._known: dict[str, tuple[Role | None, float]] = {}
        self._visibility: bool | None = None

    def role(self, login: str) -> Role | None:
        """The role, or None for no access; raises GitHubUnavailable when GitHub cannot say."""
        key = login.lower()
        with self._lock:
            known = self._known.get(key)
            if known is not None and time.monotonic() - known[1] < self._ttl:
                return known[0]
        role = self._ask(login)
        with self._lock:
            self._known[key] = (role, time.monotonic())
        return role

    def _ask(self, login: str) -> Role | None:
        # A person waits for this answer: one try of at most 5 s, not a pass's retries.
        quick = dataclasses.replace(self._cfg.github, retries=0, timeout=min(5, self._cfg.github.timeout))
        client = GitHubClient(quick, github_token(self._cfg), self._facts, lambda: dt.datetime.now(dt.UTC))
        url = f"/repos/{self._cfg.github.repository}/collaborators/{quote(login, safe='')}/permission"
        status, _, data = client.request("GET", url)
        if status == 404:
            return None
        if status != 200 or not isinstance(data, dict):
            raise GitHubUnavailable(f"GET {url} answered {status}")
        role_name, permission = str(data.get("role_name", "")), str(data.get("permission", ""))
        role = role_name if role_name in ROLES else permission
        serve = self._cfg.serve
        if role in serve.acting_permissions:
            return Role.ADMIN
        if self._verifier(client, login):
            return Role.VERIFIER
        if login.lower() in {v.lower() for v in serve.viewers_github}:
            return Role.VIEWER
        if role not in ROLES:
            return None
        if role == "read" and self._public(client):
            return None  # anyone may read a public repository
        return Role.VIEWER

    def _verifier(self, client: GitHubClient, login: str) -> bool:
        """Whether ``serve.verifiers_github`` names the login, or a team it is an active member of."""
        named = self._cfg.serve.verifiers_github
        if login.lower() in {v.lower() for v in named if "/" not in v}:
            return True
        for team in (v for v in named if "/" in v):
            org, slug = team.split("/", 1)
            # org and slug are checked by the config's pattern: nothing in them to quote.
            url = f"/orgs/{org}/teams/{slug}/memberships/{quote(login, safe='')}"
            status, _, data = client.request("GET", url)
            if status == 200 and isinstance(data, dict) and data.get("state") == "active":
                return True
            if status not in (200, 404):  # 404: not a member (or the team is hidden from the token)
                raise GitHubUnavailable(f"GET {url} answered {status}")
        return False

    def _public(self, client: GitHubClient) -> bool:
        """Whether the repository is public (anyone may read it); asked once, then kept."""
        with self._lock:
            if self._visibility is not None:
                return self._visibility
        url = f"/repos/{self._cfg.github.repository}"
        status, _, data = client.request("GET", url)
        if status != 200 or not isinstance(data, dict):
            raise GitHubUnavailable(f"GET {url} answered {status}")
        public = data.get("private") is not True
        with self._lock:
            self._visibility = public
        return public


class GitHubSignIn:
    def __init__(self, cfg: Config, client_secret: str) -> None:
        self._cfg = cfg
        self._secret = client_secret

    def _oauth(self, redirect_uri: str, state: str | None = None) -> OAuth2Session:
        return OAuth2Session(
            self._cfg.serve.oauth_client_id,
            self._secret,
            redirect_uri=redirect_uri,
            state=state,
            scope="",
            # GitHub documents the client id and secret as parameters of the token request.
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
        )

    def authorize_url(self, redirect_uri: str) -> tuple[str, str]:
        """Where to send the browser, and the state to expect back."""
        url, state = self._oauth(redirect_uri).create_authorization_url(
            f"{self._cfg.github.site}/login/oauth/authorize"
        )
        return str(url), str(state)

    def login_of(self, redirect_uri: str, code: str, state: str) -> str:
        """Trade the code for a user token and ask GitHub whose it is; the token is then dropped."""
        oauth = self._oauth(redirect_uri, state)
        try:
            oauth.fetch_token(
                f"{self._cfg.github.site}/login/oauth/access_token",
                code=code,
                timeout=self._cfg.github.timeout,
                headers={"Accept": "application/json"},
            )
            answer = oauth.get(
                f"{self._cfg.github.api_url.rstrip('/')}/user",
                timeout=self._cfg.github.timeout,
                headers={"Accept": "application/vnd.github+json"},
            )
        except AuthlibBaseError as exc:
            raise SignInFailed(f"GitHub refused the sign-in: {exc.error}") from None
        except OSError as exc:
            raise SignInFailed(f"GitHub could not be reached: {type(exc).__name__}") from None
        finally:
            oauth.close()
        login = answer.json().get("login") if answer.status_code == 200 else None
        if not isinstance(login, str) or not LOGIN_RE.match(login):
            raise SignInFailed(f"GitHub did not say who signed in (GET /user answered {answer.status_code})")
        return login
