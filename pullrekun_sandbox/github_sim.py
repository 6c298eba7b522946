"""A small GitHub REST simulator on loopback, faithful where pullrekun depends on it.

Served: ``GET /repos/{o}/{r}``, ``GET /repos/{o}/{r}/pulls`` (state, sort, direction,
per_page, page; ``Link`` headers), ``GET /rate_limit``, commit statuses, check runs,
deployments and their statuses, issue comments (list, create, edit), label removal,
and App installation tokens (``POST /app/installations/{id}/access_tokens`` with an
RS256 JWT checked against the App's public key).

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
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pullrekun_sandbox import github_payloads as P

RATE_LIMIT = 5000


@dataclass
class SimPR:
    number: int
    title: str
    author: str
    head_ref: str
    head_sha: str
    base_ref: str
    created: dt.datetime
    updated: dt.datetime
    body: str | None = None
    draft: bool = False
    fork_owner: str | None = None
    labels: list[str] = field(default_factory=list)
    state: str = "open"


@dataclass
class Fault:
    status: int
    times: int = 1
    path_prefix: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Injected failure"
    #: Only requests with this method ("" = any).
    method: str = ""


@dataclass
class SimApp:
    """A GitHub App installed on the repository."""

    app_id: int
    installation_id: int
    public_key_pem: str
    token_lifetime: dt.timedelta = dt.timedelta(hours=1)
    issued: dict[str, dt.datetime] = field(default_factory=dict)


@dataclass
class Served:
    method: str
    path: str
    status: int
    counted: bool
    route: str
    body: Any
    request: Any = None
    #: The request's If-None-Match header (None when it sent none).
    if_none_match: str | None = None
    #: When it was answered (time.monotonic()).
    at: float = field(default_factory=time.monotonic)


class GitHubSimulator:
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
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
            return number

    def push(self, number: int, head_sha: str) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.head_sha, pr.updated = head_sha, self._tick()

    def close(self, number: int) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.state, pr.updated = "closed", self._tick()

    def set_draft(self, number: int, draft: bool) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.draft, pr.updated = draft, self._tick()

    def last_status(self, sha: str, context: str = "pullrekun") -> dict[str, Any] | None:
        """The newest commit status posted for ``sha`` in ``context`` (what GitHub shows)."""
        with self._lock:
            posted = [st for st in self.statuses.get(sha, []) if st["context"] == context]
            return dict(posted[-1]) if posted else None

    def set_labels(self, number: int, labels: list[str]) -> None:
        with self._lock:
            pr = self.prs[number]
            pr.labels, pr.updated = list(labels), self._tick()

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

    def _repo_json(self, full_name: str | None = None) -> dict[str, Any]:
        full_name = full_name or self.repository
        owner_login = full_name.split("/")[0]
        owner = P.user(self.url, self.url, owner_login, 1 + sum(map(ord, owner_login)))
        rid = 500 + sum(map(ord, full_name))
        return P.repository(self.url, self.url, full_name, rid, owner, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    def _pr_json(self, pr: SimPR) -> dict[str, Any]:
        base_repo = self._repo_json()
        head_repo = (
            self._repo_json(f"{pr.fork_owner}/{self.repository.split('/')[1]}")
            if pr.fork_owner
            else base_repo
        )
        labels = [P.label(self.url, self.repository, name, 7000 + i) for i, name in enumerate(pr.labels)]
        return P.pull_request_simple(
            api=self.url,
            web=self.url,
            full_name=self.repository,
            number=pr.number,
            pid=100000 + pr.number,
            title=pr.title,
            body=pr.body,
            author=P.user(self.url, self.url, pr.author, 2000 + sum(map(ord, pr.author))),
            head_ref=pr.head_ref,
            head_sha=pr.head_sha,
            head_repo=head_repo,
            base_ref=pr.base_ref,
            base_sha="0" * 40,
            base_repo=base_repo,
            created=pr.created,
            updated=pr.updated,
            draft=pr.draft,
            labels=labels,
        )

    # --- HTTP ----------------------------------------------------------------------

    def start(self) -> GitHubSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

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
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="github-sim")
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
        if self.tokens and cred not in self.tokens and installation is None:
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
        if parsed.path == base:
            body: Any = P.full_repository(self._repo_json())
            route = "/repos/{owner}/{repo}"
        elif parsed.path == f"{base}/pulls":
            body, links = self._pulls_page(parsed.path, query)
            route = "/repos/{owner}/{repo}/pulls"
        elif comments is not None:
            items = self.comments_on(int(comments.group(1)))
            body, links = self._page(parsed.path, query, items)
            route = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
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

    # --- the App -------------------------------------------------------------------

    def _installation_of(self, cred: str | None) -> int | None:
        app = self.app
        if app is None or cred is None or cred not in app.issued:
            return None
        if app.issued[cred] <= dt.datetime.now(dt.UTC):
            return None  # expired: GitHub answers 401
        return app.installation_id

    def _access_token(self, h: BaseHTTPRequestHandler, path: str, headers: dict[str, str]) -> None:
        import jwt

        app = self.app
        assert app is not None
        route = "/app/installations/{installation_id}/access_tokens"
        wanted = f"/app/installations/{app.installation_id}/access_tokens"
        auth = h.headers.get("Authorization", "")
        try:
            claims = jwt.decode(
                auth.removeprefix("Bearer ").strip(), app.public_key_pem, algorithms=["RS256"]
            )
        except jwt.PyJWTError as exc:
            body = self._error(401, f"A JSON web token could not be decoded: {exc}")
            self._send(h, 401, body, headers, route, True)
            return
        if str(claims.get("iss")) != str(app.app_id):
            self._send(
                h, 401, self._error(401, "'Issuer' claim ('iss') must be an Integer"), headers, route, True
            )
            return
        if h.command != "POST" or path != wanted:
            self._send(h, 404, self._error(404, "Not Found"), headers, route, True)
            return
        token = "ghs_" + secrets.token_hex(18)
        expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + app.token_lifetime
        app.issued[token] = expires
        self._send(h, 201, P.installation_token(token, expires), headers, route, True)

    # --- writes --------------------------------------------------------------------

    def _bot(self, installation: int | None) -> dict[str, Any]:
        login = "pullrekun[bot]" if installation else "pullrekun-operator"
        u = P.user(self.url, self.url, login, 900001 if installation else 900002)
        if installation:
            u["type"] = "Bot"
        return u

    def _write(self, method: str, path: str, body: Any, installation: int | None) -> tuple[int, Any, str]:
        base = re.escape(f"/repos/{self.repository}")
        fields = body if isinstance(body, dict) else {}
        now = self._tick()
        bot = self._bot(installation)

        def invalid(message: str) -> tuple[int, Any, str]:
            return 422, {**self._error(422, "Validation Failed"), "errors": [{"message": message}]}, "error"

        if method == "POST" and (m := re.fullmatch(rf"{base}/statuses/([0-9a-f]{{40}})", path)):
            route = "/repos/{owner}/{repo}/statuses/{sha}"
            if fields.get("state") not in ("error", "failure", "pending", "success"):
                return invalid("state is not included in the list")
            if len(fields.get("description") or "") > 140:
                return invalid("description is too long (maximum is 140 characters)")
            sha = m.group(1)
            sid = next(self._ids)
            status = P.commit_status(
                self.url,
                self.repository,
                sid,
                sha,
                fields["state"],
                fields.get("description"),
                fields.get("target_url"),
                fields.get("context", "default"),
                bot,
                now,
            )
            self.statuses.setdefault(sha, []).append(status)
            return 201, status, route
        if method in ("POST", "PATCH") and (m := re.fullmatch(rf"{base}/check-runs(?:/(\d+))?", path)):
            route = "/repos/{owner}/{repo}/check-runs" + ("/{check_run_id}" if m.group(1) else "")
            if installation is None:
                return 403, self._error(403, "Resource not accessible by personal access token"), route
            if method == "PATCH":
                run_id = int(m.group(1) or 0)
                if run_id not in self.check_runs:
                    return 404, self._error(404, "Not Found"), "error"
                old = self.check_runs[run_id]
                fields = {**old, **fields, "output": {**old["output"], **(fields.get("output") or {})}}
                if fields.get("status") != "completed":
                    fields["conclusion"] = None
            elif method == "POST" and m.group(1) is None:
                run_id = next(self._ids)
                if not re.fullmatch(r"[0-9a-f]{40}", str(fields.get("head_sha", ""))) or not fields.get(
                    "name"
                ):
                    return invalid("head_sha and name are required")
            else:
                return 404, self._error(404, "Not Found"), "error"
            if fields.get("conclusion") and fields.get("status") != "completed":
                fields["status"] = "completed"  # GitHub: a conclusion completes the run
            if fields.get("status") == "completed" and not fields.get("conclusion"):
                return invalid("conclusion is required when status is completed")
            old_run = self.check_runs.get(run_id)
            started = (
                dt.datetime.fromisoformat(old_run["started_at"].replace("Z", "+00:00")) if old_run else now
            )
            run = P.check_run(
                self.url,
                self.url,
                self.repository,
                run_id,
                fields,
                P.integration(self.url, self.url, 424242, P.user(self.url, self.url, "acme", 4242)),
                5000 + run_id,
                started,
                now if fields.get("status") == "completed" else None,
            )
            self.check_runs[run_id] = run
            return (201 if method == "POST" else 200), run, route
        if method == "POST" and path == f"/repos/{self.repository}/deployments":
            route = "/repos/{owner}/{repo}/deployments"
            ref = str(fields.get("ref", ""))
            if not ref:
                return invalid("ref is required")
            if len(fields.get("description") or "") > 140:
                return invalid("description is too long (maximum is 140 characters)")
            if "required_contexts" not in fields:
                bad = [st for st in self.statuses.get(ref, []) if st["state"] != "success"]
                if bad:
                    msg = "Conflict: Commit status checks failed for " + ref
                    return 409, self._error(409, msg), route
            did = next(self._ids)
            dep = P.deployment(self.url, self.repository, did, {**fields, "ref": ref}, bot, now)
            self.deployments[did] = dep
            self.deployment_statuses[did] = []
            return 201, dep, route
        if method == "POST" and (m := re.fullmatch(rf"{base}/deployments/(\d+)/statuses", path)):
            route = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
            did = int(m.group(1))
            if did not in self.deployments:
                return 404, self._error(404, "Not Found"), "error"
            states = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
            if fields.get("state") not in states:
                return invalid("state is not included in the list")
            if len(fields.get("description") or "") > 140:
                return invalid("description is too long (maximum is 140 characters)")
            environment = self.deployments[did]["environment"]
            st = P.deployment_status(
                self.url, self.repository, did, next(self._ids), fields, environment, bot, now
            )
            self.deployment_statuses[did].append(st)
            if fields["state"] == "success" and fields.get("auto_inactive", True):
                for other, dep in self.deployments.items():
                    history = self.deployment_statuses[other]
                    if (
                        other != did
                        and dep["environment"] == environment
                        and history
                        and history[-1]["state"] == "success"
                    ):
                        inactive = {"state": "inactive", "description": "superseded"}
                        history.append(
                            P.deployment_status(
                                self.url,
                                self.repository,
                                other,
                                next(self._ids),
                                inactive,
                                environment,
                                bot,
                                now,
                            )
                        )
            return 201, st, route
        if method == "POST" and (m := re.fullmatch(rf"{base}/issues/(\d+)/comments", path)):
            route = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
            number = int(m.group(1))
            if number not in self.prs:
                return 404, self._error(404, "Not Found"), "error"
            if not isinstance(fields.get("body"), str) or len(fields["body"]) > 65536:
                return invalid("body is missing or too long (maximum is 65536 characters)")
            cid = next(self._ids)
            comment = P.issue_comment(
                self.url, self.url, self.repository, cid, number, fields["body"], bot, now, now
            )
            self.comments[cid] = comment
            self.prs[number].updated = now  # a comment moves the PR's updated_at
            return 201, comment, route
        if method == "PATCH" and (m := re.fullmatch(rf"{base}/issues/comments/(\d+)", path)):
            route = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
            cid = int(m.group(1))
            if cid not in self.comments:
                return 404, self._error(404, "Not Found"), "error"
            if not isinstance(fields.get("body"), str) or len(fields["body"]) > 65536:
                return invalid("body is missing or too long (maximum is 65536 characters)")
            old = self.comments[cid]
            number = int(old["issue_url"].rsplit("/", 1)[1])
            created = dt.datetime.fromisoformat(old["created_at"].replace("Z", "+00:00"))
            comment = P.issue_comment(
                self.url, self.url, self.repository, cid, number, fields["body"], old["user"], created, now
            )
            self.comments[cid] = comment
            self.prs[number].updated = now
            return 200, comment, route
        if method == "DELETE" and (m := re.fullmatch(rf"{base}/issues/(\d+)/labels/([^/]+)", path)):
            route = "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"
            number, name = int(m.group(1)), urllib.parse.unquote(m.group(2))
            pr = self.prs.get(number)
            if pr is None or name not in pr.labels:
                return 404, self._error(404, "Label does not exist"), route
            pr.labels.remove(name)
            pr.updated = now
            labels = [P.label(self.url, self.repository, n, 7000 + i) for i, n in enumerate(pr.labels)]
            return 200, labels, route
        return 404, self._error(404, "Not Found"), "error"

    def user_comment(self, number: int, body: str, login: str = "reviewer") -> int:
        """What a person commenting on the PR in the UI does; returns the comment id."""
        with self._lock:
            now = self._tick()
            cid = next(self._ids)
            person = P.user(self.url, self.url, login, 3000 + sum(map(ord, login)))
            self.comments[cid] = P.issue_comment(
                self.url, self.url, self.repository, cid, number, body, person, now, now
            )
            self.prs[number].updated = now
            return cid

    def delete_comment(self, comment_id: int) -> None:
        """What a person deleting pullrekun's comment in the UI does."""
        with self._lock:
            del self.comments[comment_id]

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], str]:
        """One page of ``items`` (``per_page``, ``page``) and its ``Link`` header value."""
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(items) // per_page))

        def link(n: int) -> str:
            q = dict(query, page=str(n), per_page=str(per_page))
            return f"<{self.url}{path}?{urllib.parse.urlencode(q)}>"

        rels = []
        if page > 1:
            rels += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        return items[(page - 1) * per_page : page * per_page], ", ".join(rels)

    def _pulls_page(self, path: str, query: dict[str, str]) -> tuple[list[Any], str]:
        state = query.get("state", "open")
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc")  # GitHub's default for every sort
        prs = [p for p in self.prs.values() if state == "all" or p.state == state]
        by_updated = sort == "updated"
        prs.sort(
            key=lambda p: (p.updated if by_updated else p.created, p.number), reverse=direction == "desc"
        )
        chunk, links = self._page(path, query, prs)
        return [self._pr_json(p) for p in chunk], links

    def open_numbers(self) -> Iterator[int]:
        return (n for n, p in self.prs.items() if p.state == "open")
