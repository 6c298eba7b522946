"""Read the open pull requests through PyGithub, with conditional requests.

Every page of ``GET /repos/{owner}/{repo}/pulls?state=open`` is asked for with the
ETag of its last answer (``If-None-Match``); a 304 costs no rate limit and means the
cached page still holds. ETags are cached per credential, as GitHub ties them to it.

Errors never turn into "no PRs": any failure raises :class:`GitHubUnavailable`, and
the pass that called us stops before planning. Pages are read by offset, so a PR that closes
between two page reads shifts the next page and hides an open PR: a PR that holds an
environment and is missing from the list is asked for on its own (``GET /pulls/{n}``) before
it is taken for closed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, RequestStats, next_link
from pullrekun.adapters.state.httpcache import CachedPage
from pullrekun.core.model import PullRequest
from pullrekun.core.validate import InvalidInput

log = logging.getLogger(__name__)

__all__ = ["GitHubUnavailable", "PullRequestSource", "pull_request_from_json"]


class PageCache(Protocol):
    def get(self, key: str) -> CachedPage | None: ...
    def put(self, key: str, page: CachedPage, now: dt.datetime) -> None: ...


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
        # Unsaid is taken as public: output is then kept off the PR, never shown by mistake.
        public_repo=(base.get("repo") or {}).get("private") is not True,
        body=(item.get("body") or "")[:BODY_LIMIT],
    )


#: The most of a PR's description pullrekun keeps (its scenario is read from it).
BODY_LIMIT = 65536


class PullRequestSource:
    """The one place that lists open PRs."""

    def __init__(self, client: GitHubClient, cache: PageCache, clock: Callable[[], dt.datetime]) -> None:
        self._client = client
        self._repository = client.repository
        self._cache = cache
        self._per_page = client.cfg.per_page
        self._clock = clock
        #: GitHub's time (its ``Date`` header) when the PR list was last read: a head in that
        #: list was there then. An approval must be given after it (GitHub's clock on both sides).
        self.listed_at: dt.datetime | None = None
        self._last_date = ""

    @property
    def stats(self) -> RequestStats:
        return self._client.stats

    @property
    def repository(self) -> str:
        return self._repository

    def _note_date(self, value: str) -> None:
        try:
            at = email.utils.parsedate_to_datetime(value).astimezone(dt.UTC)
        except (TypeError, ValueError):
            return
        self.listed_at = max(self.listed_at or at, at)

    def get_page(self, url: str) -> tuple[list[Any], str | None]:
        """One page of a list, asked for with the ETag of its last answer (a 304 is free)."""
        return self._get(url)

    def get_object(self, url: str) -> tuple[int, Any]:
        """One object, asked for with the ETag of its last answer (a 304 is free)."""
        key = f"{self._client.cache_prefix}:{url}"[:191]
        cached = self._cache.get(key)
        headers = {"If-None-Match": cached.etag} if cached else {}
        status, low, data = self._client.request("GET", url, headers=headers)
        if status == 304 and cached is not None:
            return 200, json.loads(cached.body)
        etag = low.get("etag")
        if status == 200 and etag:
            self._cache.put(
                key, CachedPage(etag, json.dumps(data, separators=(",", ":")), None), self._clock()
            )
        return status, data

    def _get(self, url: str) -> tuple[list[Any], str | None]:
        key = f"{self._client.cache_prefix}:{url}"[:191]
        cached = self._cache.get(key)
        headers = {"If-None-Match": cached.etag} if cached else {}
        status, low, items = self._client.request("GET", url, headers=headers)
        self._last_date = low.get("date", "")
        if status == 304 and cached is not None:
            return json.loads(cached.body), cached.next_url
        if status >= 300:
            raise GitHubUnavailable(f"GET {url} answered {status}: {str(items)[:200]}")
        if not isinstance(items, list):
            raise GitHubUnavailable(f"GET {url} did not return a JSON list")
        next_url = next_link(low.get("link", ""))
        etag = low.get("etag")
        if etag:
            body = json.dumps(items, separators=(",", ":"))
            self._cache.put(key, CachedPage(etag, body, next_url), self._clock())
        return items, next_url

    def _confirm(self, number: int) -> PullRequest | None:
        """The PR if it is still open (the list hid it), None if it is closed or gone."""
        url = f"/repos/{self._repository}/pulls/{number}"
        status, _, item = self._client.request("GET", url)
        if status in (404, 410):
            return None
        if status >= 300 or not isinstance(item, dict):
            raise GitHubUnavailable(f"GET {url} answered {status}: {str(item)[:200]}")
        if item.get("state") != "open":
            return None
        try:
            pr = pull_request_from_json(item)
        except (KeyError, TypeError, ValueError, InvalidInput) as exc:
            raise GitHubUnavailable(f"malformed pull request {number}: {exc}") from exc
        log.info("PR #%s is open but was missing from the list (it shifted while it was read)", number)
        return pr

    def open_pull_requests(self, held: Iterable[int] = ()) -> tuple[PullRequest, ...]:
        """Every open PR. ``held``: PRs holding an environment, each confirmed closed on its own
        before it may be missing from the answer."""
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
            self._note_date(self._last_date)
            for item in items:
                try:
                    pr = pull_request_from_json(item)
                except (KeyError, TypeError, ValueError, InvalidInput) as exc:
                    # Skipping it would read as "closed" and tear its environment down.
                    raise GitHubUnavailable(f"malformed pull request in list: {exc}") from exc
                prs[pr.number] = pr
        for number in sorted(set(held) - set(prs)):
            found = self._confirm(number)
            if found is not None:
                prs[number] = found
        return tuple(sorted(prs.values(), key=lambda p: p.number))
