"""The one connection to GitHub: PyGithub's requester, auth (token or App), rate limits.

Every GitHub request pullrekun makes goes through :meth:`GitHubClient.request`, which
counts it, reads the ``X-RateLimit-*`` headers and turns a rate-limit answer (403/429
with ``Retry-After``, or an exhausted limit) into :class:`RateLimited` with the time to
wait until. 5xx answers to reads are retried here (urllib3, honouring ``Retry-After``);
writes are not retried within a pass (the next pass re-sends what was not recorded).

App auth: the installation token is cached in the state DB (encrypted with a key derived from
the App's private key) until five minutes before it expires, so passes in the same hour
present the same credential and their conditional requests stay free (GitHub ties ETags to
the credential).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from github import Auth, Github, GithubException, GithubIntegration
from urllib3.util.retry import Retry

from pullrekun.config import GitHubConfig

log = logging.getLogger(__name__)

#: An installation token this close to its expiry is renewed before use.
TOKEN_MARGIN = dt.timedelta(minutes=5)
#: The longest a pass waits in-process when GitHub asks it to (Retry-After) before one retry of a
#: read; anything longer becomes a recorded back-off: the pass ends instead of holding the lock.
INLINE_WAIT_MAX = 3.0
#: Longest pause between urllib3's retries of a 5xx answer.
BACKOFF_MAX = 4.0


class GitHubUnavailable(RuntimeError):
    """GitHub could not be read or written completely; nothing may be concluded from it."""


class RateLimited(GitHubUnavailable):
    """GitHub asked us to slow down; nothing more is sent before ``until``."""

    def __init__(self, until: dt.datetime, message: str) -> None:
        super().__init__(f"rate limited until {until:%Y-%m-%d %H:%M:%S} UTC: {message}")
        self.until = until


class GitHubFacts(Protocol):
    """Where the client keeps what must survive the process (the state DB)."""

    def read(self) -> dict[str, str]: ...
    def write(self, values: Mapping[str, str | None], now: dt.datetime) -> None: ...


@dataclass
class RequestStats:
    requests: int = 0
    not_modified: int = 0
    writes: int = 0
    rate_limit: int | None = None
    rate_remaining: int | None = None
    rate_reset: int | None = None

    @property
    def counted(self) -> int:
        """Requests that cost rate limit (a 304 with credentials is free)."""
        return self.requests - self.not_modified


class _BoundedRetry(Retry):
    """urllib3's retries of 5xx reads, minus its in-process sleeps on ``Retry-After``.

    urllib3 sleeps as long as ``Retry-After`` says (an hour, holding the pass lock). An answer
    that carries one comes back to :meth:`GitHubClient.request` instead, which waits a few
    seconds at most and otherwise records a back-off.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if has_retry_after:
            return False
        return super().is_retry(method, status_code, has_retry_after)


def _retry(total: int) -> Retry:
    return _BoundedRetry(
        total=total,
        backoff_factor=0.5,
        backoff_max=BACKOFF_MAX,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=False,
        raise_on_status=False,
    )


def _short(exc: BaseException) -> str:
    """One line for a failed request: no urllib3 pool repr, no message twice."""
    reason: BaseException = exc
    while reason.__cause__ is not None or reason.__context__ is not None:
        nxt = reason.__cause__ or reason.__context__
        assert nxt is not None
        reason = nxt
    text = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    if "Max retries exceeded" in text or "NewConnectionError" in text or "Connection refused" in text:
        text = "connection failed" + (": connection refused" if "refused" in text else "")
    elif "timed out" in text.lower():
        text = "timed out"
    return text[:200]


def _sealer(private_key: str) -> Fernet:
    """A key for the installation token at rest, derived from the App's private key: the state
    DB alone (a backup, a read-only user, ``status``) does not give the token away."""
    digest = hashlib.sha256(b"pullrekun installation token\0" + private_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _installation_token(cfg: GitHubConfig, facts: GitHubFacts, now: dt.datetime) -> str:
    key = f"{cfg.app_id}:{cfg.installation_id}"
    private_key = Path(cfg.app_private_key_file).read_text(encoding="ascii")
    sealer = _sealer(private_key)
    known = facts.read()
    if "app_token" in known:  # written in the clear by pullrekun before 0.2: forget it
        facts.write({"app_token": None}, now)
    if known.get("app_token_for") == key and "app_token_sealed" in known:
        expires = dt.datetime.fromisoformat(known["app_token_expires"])
        if expires - TOKEN_MARGIN > now:
            try:
                return sealer.decrypt(known["app_token_sealed"].encode()).decode()
            except InvalidToken:
                log.info("GitHub App: the cached installation token was sealed with another key")
    integration = GithubIntegration(
        auth=Auth.AppAuth(cfg.app_id, private_key),
        base_url=cfg.api_url.rstrip("/"),
        timeout=cfg.timeout,
        retry=_retry(cfg.retries),
    )
    try:
        grant = integration.get_access_token(cfg.installation_id)
    except (GithubException, OSError) as exc:
        raise GitHubUnavailable(f"GitHub App installation token: {exc}") from exc
    expires_at = grant.expires_at.astimezone(dt.UTC) if grant.expires_at else now + dt.timedelta(hours=1)
    sealed = sealer.encrypt(grant.token.encode()).decode()
    facts.write(
        {"app_token_sealed": sealed, "app_token_expires": expires_at.isoformat(), "app_token_for": key}, now
    )
    log.info("GitHub App: new installation token, valid until %s", expires_at.isoformat(timespec="seconds"))
    return str(grant.token)


def backoff_until(facts: Mapping[str, str], now: dt.datetime) -> dt.datetime | None:
    """The back-off GitHub asked for (as a pass recorded it in ``facts``), if still to come."""
    value = facts.get("backoff_until")
    until = dt.datetime.fromisoformat(value) if value else None
    return until if until is not None and until > now else None


def backoff_facts(until: dt.datetime, reason: str) -> dict[str, str | None]:
    """What a pass records when GitHub asks it to wait."""
    return {"backoff_until": until.isoformat(), "backoff_reason": reason[:500]}


def _parse_reset(headers: Mapping[str, str], now: dt.datetime) -> dt.datetime | None:
    retry_after = headers.get("retry-after")
    if retry_after:
        if retry_after.strip().isdigit():
            return now + dt.timedelta(seconds=int(retry_after))
        try:
            return email.utils.parsedate_to_datetime(retry_after).astimezone(dt.UTC)
        except (TypeError, ValueError):
            pass
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        return dt.datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), dt.UTC)
    return None


class GitHubClient:
    """PyGithub's requester with pullrekun's accounting. One per pass."""

    def __init__(
        self,
        cfg: GitHubConfig,
        token: str | None,
        facts: GitHubFacts,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.cfg = cfg
        self.repository = cfg.repository
        self._clock = clock
        self._facts = facts
        self.stats = RequestStats()
        #: Past this instant the pass makes no more GitHub requests (github.budget).
        self._deadline = clock() + dt.timedelta(seconds=cfg.budget)
        #: Once GitHub asked this pass to wait, nothing more is sent until then.
        self._backoff: RateLimited | None = None
        if cfg.app:
            secret = _installation_token(cfg, facts, clock())
            # ETags are per credential: the App's cache key outlives one token.
            credential = f"app:{cfg.app_id}:{cfg.installation_id}"
        else:
            secret = token or ""
            credential = token or "anonymous"
        #: Prefix of the conditional-request cache keys: ETags are valid for one credential only.
        self.cache_prefix = hashlib.sha256(credential.encode()).hexdigest()[:16]
        self.app = cfg.app
        self._github = Github(
            auth=Auth.Token(secret) if secret else None,
            base_url=cfg.api_url.rstrip("/"),
            per_page=cfg.per_page,
            timeout=cfg.timeout,
            retry=_retry(cfg.retries),
            seconds_between_requests=None,
            seconds_between_writes=cfg.write_interval_ms / 1000 or None,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """Send one request; returns (status, lower-cased headers, parsed JSON or None).

        Raises RateLimited on a rate-limit answer (or any answer asking to wait longer than
        INLINE_WAIT_MAX), and GitHubUnavailable when GitHub could not be reached or the pass has
        spent its GitHub time budget. Other HTTP errors are returned for the caller to judge.
        """
        if self._backoff is not None and self._clock() < self._backoff.until:
            raise self._backoff
        for attempt in (1, 2):
            status, low, data = self._send(method, url, body, headers)
            if status not in (403, 429, 503):
                return status, low, data
            message = str(data.get("message", "")) if isinstance(data, dict) else ""
            now = self._clock()
            until = _parse_reset(low, now)
            if until is None and status != 503 and "rate limit" in message.lower():
                until = now + dt.timedelta(seconds=60)  # GitHub's advice for secondary limits
            if until is None:
                return status, low, data
            wait = (until - now).total_seconds()
            if method == "GET" and attempt == 1 and wait <= INLINE_WAIT_MAX:
                time.sleep(max(0.0, wait))
                continue
            self._backoff = RateLimited(
                until, f"{method} {url} answered {status}: {message or 'asked to wait'}"
            )
            raise self._backoff
        return status, low, data

    def _send(
        self, method: str, url: str, body: Any, headers: dict[str, str] | None
    ) -> tuple[int, dict[str, str], Any]:
        if self._clock() >= self._deadline:
            raise GitHubUnavailable(
                f"{method} {url}: not sent, this pass spent its {self.cfg.budget} s of GitHub time"
            )
        try:
            status, raw_headers, text = self._github.requester.requestJson(
                method, url, headers=headers or {}, input=body
            )
        except (GithubException, OSError) as exc:  # connection refused, timeouts, retries exhausted
            raise GitHubUnavailable(f"{method} {url}: {_short(exc)}") from exc
        self.stats.requests += 1
        if method != "GET":
            self.stats.writes += 1
        low = {k.lower(): str(v) for k, v in raw_headers.items()}
        if low.get("x-ratelimit-remaining", "").isdigit():
            self.stats.rate_remaining = int(low["x-ratelimit-remaining"])
            self.stats.rate_limit = int(low.get("x-ratelimit-limit", "0") or 0)
            self.stats.rate_reset = int(low.get("x-ratelimit-reset", "0") or 0)
        if status == 304:
            self.stats.not_modified += 1
            return status, low, None
        data: Any = None
        if text:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
        return status, low, data

    def low_on_requests(self) -> bool:
        remaining = self.stats.rate_remaining
        return remaining is not None and remaining <= self.cfg.rate_reserve


def rate_facts(stats: RequestStats) -> dict[str, str | None]:
    """The rate-limit figures a pass leaves in the state DB for ``status``."""
    if stats.rate_remaining is None:
        return {}
    return {
        "rate_remaining": str(stats.rate_remaining),
        "rate_limit": str(stats.rate_limit or ""),
        "rate_reset": str(stats.rate_reset or ""),
    }


def next_link(link_header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    for part in link_header.split(","):
        segs = part.split(";")
        if len(segs) >= 2 and segs[1].strip() == 'rel="next"':
            return segs[0].strip().strip("<>")
    return None
