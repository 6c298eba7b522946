"""A small GitHub REST simulator on loopback, faithful where pullrekun depends on it.

Served: ``GET /repos/{o}/{r}``, ``GET /repos/{o}/{r}/pulls`` (state, sort, direction,
per_page, page; ``Link`` headers), ``GET /rate_limit``. Behaviours kept from GitHub:
ETags tied to the credential, ``If-None-Match`` -> 304 that does not count against the
rate limit, ``X-RateLimit-*`` headers, 401 for a bad token, injected 403/422/5xx
(with ``Retry-After`` when given) on demand. Its payloads are checked against GitHub's
OpenAPI description in ``tests/integration/test_github_sim_openapi.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pullrekun.sandbox import github_payloads as P

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


@dataclass
class Served:
    method: str
    path: str
    status: int
    counted: bool
    route: str
    body: Any


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
        self.served.append(Served("GET", h.path, status, counted, route, body))
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(raw)))
        h.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            parsed = urllib.parse.urlsplit(h.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            cred = self._credential(h)
            key = cred or f"ip:{h.client_address[0]}"
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

            if self.tokens and cred not in self.tokens:
                self._send(
                    h,
                    401,
                    {
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "401",
                    },
                    rate_headers(remaining),
                    "error",
                    True,
                )
                return
            for fault in self.faults:
                if fault.times > 0 and parsed.path.startswith(fault.path_prefix):
                    fault.times -= 1
                    hdrs = rate_headers(0 if fault.status in (403, 429) else remaining)
                    hdrs.update(fault.headers)
                    self._send(
                        h,
                        fault.status,
                        {"message": fault.message, "documentation_url": "https://docs.github.com/rest"},
                        hdrs,
                        "error",
                        True,
                    )
                    return
            if parsed.path == "/rate_limit":
                core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
                self._send(
                    h,
                    200,
                    {"resources": {"core": core, "search": core}, "rate": core},
                    rate_headers(remaining),
                    "/rate_limit",
                    False,
                )
                return
            base = f"/repos/{self.repository}"
            if parsed.path == base:
                body: Any = P.full_repository(self._repo_json())
                route = "/repos/{owner}/{repo}"
                links = ""
            elif parsed.path == f"{base}/pulls":
                body, links = self._pulls_page(parsed.path, query)
                route = "/repos/{owner}/{repo}/pulls"
            else:
                self._send(
                    h,
                    404,
                    {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
                    rate_headers(remaining),
                    "error",
                    True,
                )
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

    def _pulls_page(self, path: str, query: dict[str, str]) -> tuple[list[Any], str]:
        state = query.get("state", "open")
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc")  # GitHub's default for every sort
        prs = [p for p in self.prs.values() if state == "all" or p.state == state]
        by_updated = sort == "updated"
        prs.sort(
            key=lambda p: (p.updated if by_updated else p.created, p.number), reverse=direction == "desc"
        )
        last = max(1, -(-len(prs) // per_page))
        chunk = prs[(page - 1) * per_page : page * per_page]

        def link(n: int) -> str:
            q = dict(query, page=str(n), per_page=str(per_page))
            return f"<{self.url}{path}?{urllib.parse.urlencode(q)}>"

        rels = []
        if page > 1:
            rels += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        return [self._pr_json(p) for p in chunk], ", ".join(rels)

    def open_numbers(self) -> Iterator[int]:
        return (n for n, p in self.prs.items() if p.state == "open")
