"""Read the open pull requests through PyGithub, with conditional requests.

Every page of ``GET /repos/{owner}/{repo}/pulls?state=open`` is asked for with the
ETag of its last answer (``If-None-Match``); a 304 costs no rate limit and means the
cached page still holds. ETags are cached per credential, as GitHub ties them to it.

Errors never turn into "no PRs": any failure raises :class:`GitHubUnavailable`, and
the pass that called us stops before planning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from github import Auth, Github, GithubException, GithubRetry

from pullrekun.config import GitHubConfig
from pullrekun.model import PullRequest
from pullrekun.state.store import CachedPage
from pullrekun.validate import InvalidInput

log = logging.getLogger(__name__)


class GitHubUnavailable(RuntimeError):
    """GitHub could not be read completely; nothing may be concluded from it this pass."""


class PageCache(Protocol):
    def cached_page(self, key: str) -> CachedPage | None: ...
    def store_page(self, key: str, page: CachedPage, now: dt.datetime) -> None: ...


@dataclass
class RequestStats:
    requests: int = 0
    not_modified: int = 0
    rate_remaining: int | None = None
    rate_reset: int | None = None


def connect(cfg: GitHubConfig, token: str | None) -> Github:
    retry = GithubRetry(total=cfg.retries, backoff_factor=0.5, max_rate_limit_wait=60)
    auth = Auth.Token(token) if token else None
    return Github(
        auth=auth, base_url=cfg.api_url.rstrip("/"), per_page=cfg.per_page, timeout=cfg.timeout, retry=retry
    )


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def pull_request_from_json(item: dict[str, Any]) -> PullRequest:
    """Build a PullRequest from one element of GitHub's PR list payload."""
    head, base = item["head"], item["base"]
    head_repo = (head.get("repo") or {}).get("full_name")
    base_repo = (base.get("repo") or {}).get("full_name")
    return PullRequest(
        number=item["number"],
        head_sha=head["sha"],
        created_at=_parse_time(item["created_at"]),
        author=(item.get("user") or {}).get("login", ""),
        title=item.get("title") or "",
        head_ref=head.get("ref", ""),
        base_ref=base.get("ref", ""),
        draft=bool(item.get("draft", False)),
        from_fork=head_repo is None or head_repo != base_repo,
        labels=tuple(sorted(lbl["name"] for lbl in item.get("labels", []))),
    )


class PullRequestSource:
    """The one place that lists open PRs."""

    def __init__(
        self,
        gh: Github,
        repository: str,
        cache: PageCache,
        token: str | None,
        per_page: int,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._requester = gh.requester
        self._repository = repository
        self._cache = cache
        self._per_page = per_page
        self._clock = clock
        # ETags are valid only for the credential that earned them.
        self._cred = hashlib.sha256((token or "anonymous").encode()).hexdigest()[:16]
        self.stats = RequestStats()

    def _get(self, url: str) -> tuple[list[Any], str | None]:
        key = f"{self._cred}:{url}"[:191]
        cached = self._cache.cached_page(key)
        headers = {"If-None-Match": cached.etag} if cached else {}
        try:
            status, resp_headers, body = self._requester.requestJson("GET", url, headers=headers)
        except (GithubException, OSError) as exc:  # 4xx/5xx after retries, rate limits, network
            raise GitHubUnavailable(f"GET {url} failed: {exc}") from exc
        self.stats.requests += 1
        low = {k.lower(): v for k, v in resp_headers.items()}
        if "x-ratelimit-remaining" in low:
            self.stats.rate_remaining = int(low["x-ratelimit-remaining"])
            self.stats.rate_reset = int(low.get("x-ratelimit-reset", 0))
        if status == 304 and cached is not None:
            self.stats.not_modified += 1
            return json.loads(cached.body), cached.next_url
        if status >= 300:
            raise GitHubUnavailable(f"GET {url} answered {status}: {body[:200]}")
        try:
            items = json.loads(body)
        except json.JSONDecodeError as exc:
            raise GitHubUnavailable(f"GET {url} returned invalid JSON") from exc
        if not isinstance(items, list):
            raise GitHubUnavailable(f"GET {url} did not return a list")
        next_url = _next_link(low.get("link", ""))
        etag = low.get("etag")
        if etag:
            self._cache.store_page(key, CachedPage(etag, body, next_url), self._clock())
        return items, next_url

    def open_pull_requests(self) -> tuple[PullRequest, ...]:
        url: str | None = (
            f"/repos/{self._repository}/pulls?state=open&sort=created&direction=asc&per_page={self._per_page}"
        )
        seen: set[str] = set()
        prs: dict[int, PullRequest] = {}
        while url:
            if url in seen:
                raise GitHubUnavailable(f"pagination loops at {url}")
            seen.add(url)
            items, url = self._get(url)
            for item in items:
                try:
                    pr = pull_request_from_json(item)
                except (KeyError, TypeError, ValueError, InvalidInput) as exc:
                    # Skipping it would read as "closed" and tear its environment down.
                    raise GitHubUnavailable(f"malformed pull request in list: {exc}") from exc
                prs[pr.number] = pr
        return tuple(sorted(prs.values(), key=lambda p: p.number))


def _next_link(link_header: str) -> str | None:
    for part in link_header.split(","):
        segs = part.split(";")
        if len(segs) >= 2 and segs[1].strip() == 'rel="next"':
            return segs[0].strip().strip("<>")
    return None
