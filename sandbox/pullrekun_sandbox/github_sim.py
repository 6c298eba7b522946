"""A small GitHub REST simulator on loopback, faithful where pullrekun depends on it.

Served: ``GET /repos/{o}/{r}``, ``GET /repos/{o}/{r}/pulls`` (state, sort, direction,
per_page, page; ``Link`` headers), ``GET /rate_limit``, commit statuses, check runs,
deployments and their statuses, issue comments (list, create, edit), label removal,
App installation tokens (``POST /app/installations/{id}/access_tokens`` with an
RS256 JWT checked against the App's public key), and the OAuth web flow on its web address
(github_oauth.py; ``GET /user`` with a user token is that person).

Behaviours kept from GitHub: ETags tied to the credential, ``If-None-Match`` -> 304
that does not count against the rate limit, ``X-RateLimit-*`` headers (one limit per
token, one per App installation), 401 for a bad token, check runs refused (403) to
anything but an App installation token, descriptions over 140 characters refused (422),
a deployment refused (409) while the commit has non-success statuses unless
``required_contexts`` is ``[]``, a new successful deployment making earlier ones in the
environment inactive, a comment or a label change moving the PR's ``updated_at``, and
injected 403/422/5xx (with ``Retry-After`` when given) on demand. Its payloads are
checked against GitHub's OpenAPI description in
``tests/integration/test_github_sim_openapi.py``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import itertools
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pullrekun_sandbox import github_payloads as P
from pullrekun_sandbox.github_history import History, HistoryEndpoints
from pullrekun_sandbox.github_hooks import WebhookSender, pull_request_payload
from pullrekun_sandbox.github_oauth import OAuthApp, OAuthEndpoints
from pullrekun_sandbox.github_reads import ReadEndpoints
from pullrekun_sandbox.github_records import Fault, Served, SimApp, SimPR
from pullrekun_sandbox.github_releases import ReleaseEndpoints
from pullrekun_sandbox.github_writes import WriteEndpoints

RATE_LIMIT = 5000


__all__ = ["RATE_LIMIT", "Fault", "GitHubSimulator", "Served", "SimApp", "SimPR"]


class GitHubSimulator(ReadEndpoints, ReleaseEndpoints, WriteEndpoints, OAuthEndpoints, HistoryEndpoints):
    """Holds one repository's PRs and serves them over HTTP on 127.0.0.1."""

    def __init__(
        self,
        repository: str = "acme/webapp",
        tokens: set[str] | None = None,
        start: dt.datetime | None = None,
    ) -> None:
        self.repository = repository
        self.tokens = tokens or set()
        self.prs: dict[int, SimPR] = {}
        self.faults: list[Fault] = []
        self.served: list[Served] = []
        self._lock = threading.RLock()
        self._clock = start or dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
        self._ids = itertools.count(1000)
        self._numbers = itertools.count(1)
        self._remaining: dict[str, int] = {}
        self.app: SimApp | None = None
        self._request_body: Any = None
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.deployment_statuses: dict[int, list[dict[str, Any]]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        #: Labels added and removed, per PR (``GET .../issues/{n}/events``).
        self.issue_events: dict[int, list[dict[str, Any]]] = {}
        #: Each person's role on the repository (the rest read it, as on a public repository).
        self.roles: dict[str, str] = {"acme": "admin", "maintainer": "write", "triager": "triage"}
        self.private = True
        #: Team members ("org/team-slug" -> login -> "active" or "pending").
        self.teams: dict[str, dict[str, str]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        #: Called with the page number before a page of the PR list is served (a test closes a PR
        #: there to reproduce a list that shifts between two page reads).
        self.before_pulls_page: Callable[[int], None] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: Where the repository's webhook delivers (None: no webhook is configured).
        self.webhook: WebhookSender | None = None
        self.oauth_apps: dict[str, OAuthApp] = {}
        self.user_tokens: dict[str, str] = {}
        self._codes = {}
        self.oauth_login = "octocat"
        #: The repository's git history: ``main`` starts with one commit.
        self.history = History()
        self.releases: dict[int, dict[str, Any]] = {}
        self.commit("Initial commit", author="acme")

    def _notify(self, action: str, number: int, sender: str) -> None:
        """Deliver a pull_request event (outside the lock: the receiver may read this simulator)."""
        if self.webhook is not None:
            with self._lock:
                payload = pull_request_payload(self.repository, action, self.prs[number], sender)
            self.webhook.deliver("pull_request", payload)

    # --- the world -----------------------------------------------------------------

    def _tick(self) -> dt.datetime:
        self._clock += dt.timedelta(seconds=1)
        return self._clock

    def open_pr(
        self,
        head_sha: str,
        *,
        title: str = "A change",
        author: str = "alice",
        head_ref: str = "feature",
        base_ref: str = "main",
        draft: bool = False,
        fork_owner: str | None = None,
        labels: list[str] | None = None,
        body: str | None = None,
    ) -> int:
        with self._lock:
            number = next(self._numbers)
            now = self._tick()
            self.prs[number] = SimPR(
                number,
                title,
                author,
                head_ref,
                head_sha,
                base_ref,
                now,
                now,
                body,
                draft,
                fork_owner,
                list(labels or []),
            )
            for name in labels or []:  # labels given when the PR is opened are its author's
                self.label_event(number, "labeled", name, author, now)
        self._notify("opened", number, author)
        return number

    def push(self, number: int, head_sha: str) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.head_sha, pr.updated = head_sha, self._tick()
        self._notify("synchronize", number, pr.author)

    def close(self, number: int) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.state, pr.updated = "closed", self._tick()
        self._notify("closed", number, pr.author)

    def set_draft(self, number: int, draft: bool) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.draft, pr.updated = draft, self._tick()
        self._notify("converted_to_draft" if draft else "ready_for_review", number, pr.author)

    def last_status(self, sha: str, context: str = "pullrekun") -> dict[str, Any] | None:
        """The newest commit status posted for ``sha`` in ``context`` (what GitHub shows)."""
        with self._lock:
            posted = [st for st in self.statuses.get(sha, []) if st["context"] == context]
            return dict(posted[-1]) if posted else None

    def set_labels(self, number: int, labels: list[str], actor: str = "maintainer") -> None:
        """What ``actor`` does in the web UI: the PR's labels become ``labels`` (events recorded)."""
        with self._lock:
            pr = self.prs[number]
            now = self._tick()
            for name in sorted(set(labels) - set(pr.labels)):
                self.label_event(number, "labeled", name, actor, now)
            for name in sorted(set(pr.labels) - set(labels)):
                self.label_event(number, "unlabeled", name, actor, now)
            pr.labels, pr.updated = list(labels), now
        self._notify("labeled", number, actor)

    def label_event(self, number: int, event: str, name: str, actor: str, at: dt.datetime) -> None:
        person = P.user(self.url, self.url, actor, 3000 + sum(map(ord, actor)))
        entry = P.label_event(self.url, self.repository, next(self._ids), event, name, person, at)
        self.issue_events.setdefault(number, []).append(entry)

    def add_review(
        self, number: int, login: str, state: str = "APPROVED", commit_id: str | None = None
    ) -> None:
        """A review by ``login`` on ``commit_id`` (the PR's head by default)."""
        with self._lock:
            pr = self.prs[number]
            person = P.user(self.url, self.url, login, 3000 + sum(map(ord, login)))
            rid = next(self._ids)
            entry = P.review(
                self.url, self.url, self.repository, rid, number, person, state,
                commit_id or pr.head_sha, self._tick(),
            )  # fmt: skip
            self.reviews.setdefault(number, []).append(entry)

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": len(self.served),
                "counted": sum(1 for s in self.served if s.counted),
                "not_modified": sum(1 for s in self.served if s.status == 304),
            }

    def install_app(self, app_id: int, installation_id: int, public_key_pem: str) -> SimApp:
        with self._lock:
            self.app = SimApp(app_id, installation_id, public_key_pem)
            return self.app

    def status_states(self, sha: str, context: str = "pullrekun") -> list[tuple[str, str]]:
        """(state, description) of every commit status posted for ``sha`` in ``context``, in order."""
        with self._lock:
            return [
                (st["state"], st["description"])
                for st in self.statuses.get(sha, [])
                if st["context"] == context
            ]

    def check_runs_for(self, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return [run for run in self.check_runs.values() if run["head_sha"] == sha]

    def deployments_of(self, pr_number: int) -> list[dict[str, Any]]:
        """Deployments to ``preview/pr-<n>``, each with its ``statuses`` (oldest first)."""
        with self._lock:
            env = f"preview/pr-{pr_number}"
            return [
                {**d, "statuses": list(self.deployment_statuses.get(d["id"], []))}
                for d in self.deployments.values()
                if d["environment"] == env
            ]

    def comments_on(self, pr_number: int) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.comments.values() if c["issue_url"].endswith(f"/issues/{pr_number}")]

    def labels_of(self, pr_number: int) -> list[str]:
        with self._lock:
            return list(self.prs[pr_number].labels)

    def writes(self) -> list[Served]:
        with self._lock:
            return [x for x in self.served if x.method != "GET"]

    # --- payloads --------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "simulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GitHubSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                # The simulator's clock: label events, reviews and Date headers agree, as GitHub's do.
                return email.utils.format_datetime(sim._clock, usegmt=True)

            def do_GET(self) -> None:
                sim._handle(self)

            def do_POST(self) -> None:
                sim._handle(self)

            def do_PATCH(self) -> None:
                sim._handle(self)

            def do_DELETE(self) -> None:
                sim._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="github-sim"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> GitHubSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _credential(self, h: BaseHTTPRequestHandler) -> str | None:
        auth = h.headers.get("Authorization", "")
        for scheme in ("token ", "Bearer ", "bearer "):
            if auth.startswith(scheme):
                return auth[len(scheme) :].strip()
        return None

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str],
        route: str,
        counted: bool,
    ) -> None:
        raw = b"" if status == 304 else json.dumps(body).encode()
        # Recorded before the client can read the answer, so a test never races the log.
        self.served.append(
            Served(
                h.command,
                h.path,
                status,
                counted,
                route,
                body,
                self._request_body,
                h.headers.get("If-None-Match"),
            )
        )
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(raw)))
        h.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)

    def _error(self, status: int, message: str) -> dict[str, Any]:
        return {"message": message, "documentation_url": "https://docs.github.com/rest"}

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            parsed = urllib.parse.urlsplit(h.path)
            if self._oauth(h, parsed.path, dict(urllib.parse.parse_qsl(parsed.query)), raw):
                return
            try:
                self._request_body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                self._request_body = None
            self._dispatch(h)

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        method = h.command
        cred = self._credential(h)
        installation = self._installation_of(cred)
        key = (f"installation:{installation}" if installation else cred) or f"ip:{h.client_address[0]}"
        limit = RATE_LIMIT if cred else 60
        remaining = self._remaining.setdefault(key, limit)
        reset = int((dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).timestamp())

        def rate_headers(rem: int) -> dict[str, str]:
            return {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(rem),
                "X-RateLimit-Used": str(limit - rem),
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Resource": "core",
            }

        if self.app is not None and parsed.path.startswith("/app/installations/"):
            self._access_token(h, parsed.path, rate_headers(remaining))
            return
        user_login = self.user_tokens.get(cred or "")
        if self.tokens and cred not in self.tokens and installation is None and user_login is None:
            denied = {**self._error(401, "Bad credentials"), "status": "401"}
            self._send(h, 401, denied, rate_headers(remaining), "error", True)
            return
        for fault in self.faults:
            if fault.times > 0 and parsed.path.startswith(fault.path_prefix) and fault.method in ("", method):
                fault.times -= 1
                hdrs = rate_headers(0 if fault.status in (403, 429) else remaining)
                hdrs.update(fault.headers)
                self._send(h, fault.status, self._error(fault.status, fault.message), hdrs, "error", True)
                return
        if parsed.path == "/rate_limit":
            core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
            limits = {"resources": {"core": core, "search": core}, "rate": core}
            self._send(h, 200, limits, rate_headers(remaining), "/rate_limit", False)
            return
        if method != "GET":
            status, answer, route = self._write(method, parsed.path, self._request_body, installation)
            if status < 400 or status in (409, 422):
                remaining = max(0, remaining - 1)
                self._remaining[key] = remaining
            self._send(h, status, answer, rate_headers(remaining), route, True)
            return
        base = f"/repos/{self.repository}"
        links = ""
        comments = re.fullmatch(rf"{re.escape(base)}/issues/(\d+)/comments", parsed.path)
        one_pull = re.fullmatch(rf"{re.escape(base)}/pulls/(\d+)", parsed.path)
        events = re.fullmatch(rf"{re.escape(base)}/issues/(\d+)/events", parsed.path)
        reviews = re.fullmatch(rf"{re.escape(base)}/pulls/(\d+)/reviews", parsed.path)
        permission = re.fullmatch(rf"{re.escape(base)}/collaborators/([^/]+)/permission", parsed.path)
        membership = re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", parsed.path)
        if parsed.path == "/user" and installation:
            denied = self._error(403, "Resource not accessible by integration")
            self._send(h, 403, denied, rate_headers(remaining), "error", True)
            return
        if parsed.path == "/user":
            login = user_login or "pullrekun-operator"
            body: Any = P.public_user(
                self.url, self.url, login, 900002 if user_login is None else 3000 + sum(map(ord, login))
            )
            route = "/user"
        elif parsed.path == base:
            body = P.full_repository(self._repo_json())
            route = "/repos/{owner}/{repo}"
        elif parsed.path == f"{base}/pulls":
            if self.before_pulls_page is not None:
                self.before_pulls_page(int(query.get("page", "1")))
            body, links = self._pulls_page(parsed.path, query)
            route = "/repos/{owner}/{repo}/pulls"
        elif events is not None and int(events.group(1)) in self.prs:
            body, links = self._page(parsed.path, query, self.issue_events.get(int(events.group(1)), []))
            route = "/repos/{owner}/{repo}/issues/{issue_number}/events"
        elif reviews is not None and int(reviews.group(1)) in self.prs:
            body, links = self._page(parsed.path, query, self.reviews.get(int(reviews.group(1)), []))
            route = "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"
        elif permission is not None:
            login = urllib.parse.unquote(permission.group(1))
            if self.roles.get(login) == "none":  # not a collaborator of a private repository
                self._send(h, 404, self._error(404, "Not Found"), rate_headers(remaining), "error", True)
                return
            person = P.user(self.url, self.url, login, 3000 + sum(map(ord, login)))
            body = P.collaborator_permission(person, self.roles.get(login, "read"))
            route = "/repos/{owner}/{repo}/collaborators/{username}/permission"
        elif membership is not None:
            org, slug, login = (urllib.parse.unquote(part) for part in membership.groups())
            state = self.teams.get(f"{org}/{slug}", {}).get(login)
            if state is None:
                self._send(h, 404, self._error(404, "Not Found"), rate_headers(remaining), "error", True)
                return
            body = P.team_membership(self.url, org, slug, login, state)
            route = "/orgs/{org}/teams/{team_slug}/memberships/{username}"
        elif one_pull is not None and int(one_pull.group(1)) in self.prs:
            pr = self.prs[int(one_pull.group(1))]
            closed = pr.updated if pr.state == "closed" else None
            body = P.pull_request(self._pr_json(pr), pr.state, closed)
            route = "/repos/{owner}/{repo}/pulls/{pull_number}"
        elif comments is not None:
            items = self.comments_on(int(comments.group(1)))
            body, links = self._page(parsed.path, query, items)
            route = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
        elif (
            found := self._history_get(parsed.path, query) or self._release_read(parsed.path, query)
        ) is not None:
            status, body, links, route = found
            if status != 200:
                error = self._error(status, body["message"])
                self._send(h, status, error, rate_headers(remaining), "error", True)
                return
        else:
            self._send(h, 404, self._error(404, "Not Found"), rate_headers(remaining), "error", True)
            return
        etag = 'W/"' + hashlib.sha256((json.dumps(body) + (cred or "")).encode()).hexdigest() + '"'
        headers = {
            "ETag": etag,
            "Cache-Control": "private, max-age=60, s-maxage=60",
            "Vary": "Accept, Authorization, Cookie",
        }
        if links:
            headers["Link"] = links
        if h.headers.get("If-None-Match") == etag and cred:
            # A conditional hit with valid credentials is free.
            self._send(h, 304, None, {**headers, **rate_headers(remaining)}, route, False)
            return
        remaining = max(0, remaining - 1)
        self._remaining[key] = remaining
        self._send(h, 200, body, {**headers, **rate_headers(remaining)}, route, True)

    def open_numbers(self) -> Iterator[int]:
        return (n for n, p in self.prs.items() if p.state == "open")
