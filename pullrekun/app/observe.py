"""Observation: read the open PRs, the pool and the state DB once, before any decision.

Observation only reads (GitHub's pages go through their ETag cache). What it learns that must
be kept (the first sighting of a fork PR's head, each PR's title and author) travels in the
:class:`Observation` and is written with the pass's intent. If GitHub or EC2 cannot be read
completely, :class:`ObserveFailed` stops the pass before planning: an unreadable PR list is
never taken to mean "no open PRs".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from pullrekun.adapters import ec2
from pullrekun.adapters.github.approvals import ApprovalReader
from pullrekun.adapters.github.client import (
    GitHubClient,
    GitHubUnavailable,
    RateLimited,
    RequestStats,
    backoff_until,
)
from pullrekun.adapters.github.pulls import PullRequestSource
from pullrekun.adapters.state.store import Store
from pullrekun.app.pool import read_pool
from pullrekun.app.results import Clock
from pullrekun.config import Config
from pullrekun.config.secrets import github_token
from pullrekun.core import cost, settings
from pullrekun.core.model import ApprovalEvidence, Instance, Observed, PullRequest

log = logging.getLogger(__name__)


class ObserveFailed(RuntimeError):
    """A source could not be read; the pass must not plan. ``rate_limited_until``: GitHub asked
    to wait until then (the pass records the back-off)."""

    def __init__(self, problem: str, rate_limited_until: dt.datetime | None = None) -> None:
        super().__init__(problem)
        self.rate_limited_until = rate_limited_until


@contextmanager
def reading(source: str) -> Iterator[None]:
    """Turn a failed read of ``source`` ("GitHub", "EC2") into :class:`ObserveFailed`."""
    try:
        yield
    except RateLimited as exc:
        raise ObserveFailed(f"{source}: {exc}", exc.until) from exc
    except (GitHubUnavailable, ec2.EC2Unavailable) as exc:
        raise ObserveFailed(f"{source}: {exc}") from exc


@dataclass(frozen=True)
class Observation:
    observed: Observed
    instances: dict[str, Instance]
    github: RequestStats
    #: Fork PRs' heads with when each was first seen (GitHub's time); recorded with the intent.
    heads: Mapping[int, tuple[str, dt.datetime]]
    #: Each open PR's (title, author); recorded with the intent for the dashboard.
    details: Mapping[int, tuple[str, str]]


def github_client(cfg: Config, store: Store, clock: Clock) -> GitHubClient:
    """A client for this pass; raises ObserveFailed while GitHub asked us to back off."""
    until = backoff_until(store.github_facts.read(), clock())
    if until is not None:
        raise ObserveFailed(f"GitHub: backing off (rate limit) until {until:%Y-%m-%d %H:%M:%S} UTC")
    with reading("GitHub"):
        return GitHubClient(cfg.github, github_token(cfg), store.github_facts, clock)


def observe(cfg: Config, store: Store, client: GitHubClient, clock: Clock) -> Observation:
    source = PullRequestSource(client, store.http_cache, clock)
    assignments = store.journal.assignments()
    edited = store.requests.edited_authors()
    # The pool is read beside the PR list (two services, two waits): the slower one sets the time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="observe-ec2") as beside:
        pool_read = beside.submit(read_pool, cfg, edited)
        with reading("GitHub"):
            prs = source.open_pull_requests(held=(a.pr_number for a in assignments))
        with reading("EC2"):
            pool = pool_read.result()
    for refusal in pool.refused:
        log.warning("refusing pool instance %s: %s", refusal.instance_id, refusal.reason)
    # The heads' first sighting in GitHub's time (the list's Date), not this machine's.
    heads = _sightings(store, prs, source.listed_at or clock())
    with reading("GitHub"):
        evidence = _approval_evidence(cfg, source, prs, heads)
    observed = Observed(
        prs,
        pool.instances,
        assignments,
        store.journal.approvals(),
        evidence,
        instance_requests=store.requests.instance_wishes(),
        edited_authors=edited,
        schema_drops=store.journal.schema_drops(),
        launches=store.fleet.records(),
        launch_requests=store.fleet.launch_requests(),
        untrusted=frozenset(store.journal.untrusted_hosts()),
        activity=store.sleep.activity(),
        month_cost=month_cost(cfg, store, clock()),
        budget_lifted=bool(cfg.cost.budget) and store.usage.budget_lifted(clock()),
        servers=pool.servers,
        server_records=store.servers.records() if cfg.schedules else {},
        pr_settings=_pr_settings(cfg, store, prs),
    )
    return Observation(
        observed,
        {i.instance_id: i for i in pool.instances},
        client.stats,
        heads,
        {pr.number: (pr.title, pr.author) for pr in prs},
    )


def _pr_settings(
    cfg: Config, store: Store, prs: tuple[PullRequest, ...]
) -> dict[int, tuple[tuple[str, str], ...]]:
    """Each PR's own settings as they should be: its labels' (if allowed), then the dashboard's."""
    names = cfg.app.pr_settings
    if not names:
        return {}
    recorded = store.settings.recorded()
    use_labels = cfg.app.pr_setting_labels
    return {
        pr.number: settings.effective(recorded.get(pr.number, {}), pr.labels, names, use_labels) for pr in prs
    }


def month_cost(cfg: Config, store: Store, now: dt.datetime) -> float:
    """What the pool's instances ran this month, priced (0 without a ``[cost] budget``: nothing
    reads it then)."""
    if not cfg.cost.budget:
        return 0.0
    since = cost.month_start(now)
    return cost.cost(store.usage.stretches(since), cfg.cost.table, now, since)


def _sightings(
    store: Store, prs: tuple[PullRequest, ...], now: dt.datetime
) -> dict[int, tuple[str, dt.datetime]]:
    """Each fork PR's head and when it was first seen (``now`` for a head not seen before)."""
    known = store.journal.head_sightings()
    seen = {}
    for pr in prs:
        if not pr.from_fork:
            continue
        sha, at = known.get(pr.number, ("", now))
        seen[pr.number] = (pr.head_sha, at if sha == pr.head_sha else now)
    return seen


def _approval_evidence(
    cfg: Config,
    source: PullRequestSource,
    prs: tuple[PullRequest, ...],
    heads: Mapping[int, tuple[str, dt.datetime]],
) -> dict[int, ApprovalEvidence]:
    """Who approved each fork PR and when; PRs from the repository itself need no approval."""
    reader = ApprovalReader(source)
    label = cfg.trust.approval_label
    return {pr.number: reader.evidence(pr, label, heads[pr.number][1]) for pr in prs if pr.from_fork}
