"""One pass: observe -> plan -> record intent -> apply -> record outcomes.

Observation happens once, before any decision, and nothing is re-read while acting.
If GitHub or EC2 cannot be read completely, the pass stops before planning: an
unreadable PR list is never taken to mean "no open PRs".
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pullrekun.adapters import ec2
from pullrekun.adapters.github.approvals import ApprovalReader
from pullrekun.adapters.github.client import (
    GitHubClient,
    GitHubUnavailable,
    RateLimited,
    RequestStats,
    backoff_facts,
    backoff_until,
    rate_facts,
)
from pullrekun.adapters.github.pulls import PullRequestSource
from pullrekun.adapters.playbook import apply as executor
from pullrekun.adapters.playbook import guard as playbook_guard
from pullrekun.adapters.state.lock import PassLock, pass_lock
from pullrekun.adapters.state.store import DeployOutcome, Store
from pullrekun.app import crashpoint
from pullrekun.app.hostkeys import pin_console_keys
from pullrekun.app.notices import NoticeResult, ReleaseNotices
from pullrekun.app.pool import read_pool
from pullrekun.app.poolchanges import apply_pool_changes
from pullrekun.app.readmodel import environment_views
from pullrekun.app.render import Renderer
from pullrekun.app.reporting import Reporter, ReportResult
from pullrekun.config import Config
from pullrekun.core.model import (
    ApprovalEvidence,
    Assign,
    Deploy,
    Instance,
    Observed,
    Plan,
    PullRequest,
    Unassign,
)
from pullrekun.core.planner import plan as make_plan
from pullrekun.core.views import PullRequestView, build_views

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ObserveFailed(RuntimeError):
    """A source could not be read; the pass must not plan."""


@dataclass(frozen=True)
class Observation:
    observed: Observed
    instances: dict[str, Instance]
    github: RequestStats


class PassOutcome(enum.StrEnum):
    """How a pass ended; the CLI turns it into an exit code, a long-lived process into a log line."""

    #: The plan was applied and every environment it deployed is ready (or there was nothing to do).
    CLEAN = "clean"
    #: The plan was applied, but an environment or the playbook run failed (recorded, retried later).
    FAILURES = "failures"
    #: GitHub or EC2 could not be read completely: nothing was planned or changed.
    NOT_OBSERVED = "not_observed"


class Cancel:
    """A cancellation token: whoever holds it (a signal handler, a server shutting down) cancels the
    pass's playbook run; outcomes are still recorded. Safe to set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class PassResult:
    outcome: PassOutcome
    plan: Plan | None
    outcomes: tuple[DeployOutcome, ...] = ()
    problem: str = ""
    github: RequestStats | None = None
    artifacts: str | None = None
    report: ReportResult | None = None
    #: The playbook run's end (successful, failed, timeout, canceled, ...); None without a run.
    run_status: str | None = None
    #: The release notices' step (None without a ``[release]`` section).
    notices: NoticeResult | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is PassOutcome.CLEAN


def _note_rate_limit(
    store: Store, until: dt.datetime, reason: str, now: dt.datetime, *, said: bool = True
) -> None:
    """Record a back-off; ``said=False`` when the pass's own result line says it already."""
    log.log(
        logging.DEBUG if not said else logging.WARNING, "GitHub: %s; no GitHub requests until then", reason
    )
    store.set_github_state(backoff_facts(until, reason), now)
    store.add_event(now, "github_rate_limited", reason[:2000])


def github_client(cfg: Config, store: Store, clock: Clock) -> GitHubClient:
    """A client for this pass; raises ObserveFailed while GitHub asked us to back off."""
    now = clock()
    until = backoff_until(store.github_state(), now)
    if until is not None:
        raise ObserveFailed(f"GitHub: backing off (rate limit) until {until:%Y-%m-%d %H:%M:%S} UTC")
    try:
        return GitHubClient(cfg.github, cfg.github_token, store, clock)
    except RateLimited as exc:
        _note_rate_limit(store, exc.until, str(exc), now, said=False)
        raise ObserveFailed(f"GitHub: {exc}") from exc
    except GitHubUnavailable as exc:
        raise ObserveFailed(f"GitHub: {exc}") from exc


def observe(cfg: Config, store: Store, client: GitHubClient, clock: Clock) -> Observation:
    source = PullRequestSource(client, store, clock)
    try:
        prs = source.open_pull_requests(held=(a.pr_number for a in store.assignments()))
    except RateLimited as exc:
        _note_rate_limit(store, exc.until, str(exc), clock(), said=False)
        raise ObserveFailed(f"GitHub: {exc}") from exc
    except GitHubUnavailable as exc:
        raise ObserveFailed(f"GitHub: {exc}") from exc
    try:
        pool = read_pool(cfg)
    except ec2.EC2Unavailable as exc:
        raise ObserveFailed(f"EC2: {exc}") from exc
    for refusal in pool.refused:
        log.warning("refusing pool instance %s: %s", refusal.instance_id, refusal.reason)
    instances = pool.instances
    try:
        # The heads' first sighting in GitHub's time (the list's Date), not this machine's.
        evidence = _approval_evidence(cfg, store, source, prs, source.listed_at or clock())
    except RateLimited as exc:
        _note_rate_limit(store, exc.until, str(exc), clock(), said=False)
        raise ObserveFailed(f"GitHub: {exc}") from exc
    except GitHubUnavailable as exc:
        raise ObserveFailed(f"GitHub: {exc}") from exc
    observed = Observed(
        prs,
        instances,
        store.assignments(),
        store.approvals(),
        evidence,
        instance_requests=store.instance_requests(),
    )
    return Observation(observed, {i.instance_id: i for i in instances}, client.stats)


def _approval_evidence(
    cfg: Config, store: Store, source: PullRequestSource, prs: tuple[PullRequest, ...], now: dt.datetime
) -> dict[int, ApprovalEvidence]:
    """Who approved each fork PR and when; PRs from the repository itself need no approval."""
    forks = [pr for pr in prs if pr.from_fork]
    seen = store.note_heads({pr.number: pr.head_sha for pr in forks}, now)
    reader = ApprovalReader(source)
    label = cfg.trust.approval_label
    return {pr.number: reader.evidence(pr, label, seen[pr.number]) for pr in forks}


def _views(
    cfg: Config, store: Store, obs: Observation, plan: Plan, now: dt.datetime
) -> dict[int, PullRequestView]:
    envs = environment_views(cfg, store.environments(), obs.instances)
    queued_since = {pr: since for pr, _, since in store.queue()}
    return build_views(
        obs.observed.prs,
        plan,
        envs,
        queued_since,
        now,
        cfg.report.queue_positions,
        cfg.report.show_output,
        cfg.report.show_output_public,
    )


def _hands_over(plan: Plan) -> bool:
    """Whether an instance a PR loses goes to another PR in this plan."""
    taken = {a.instance_id for a in plan.of_type(Assign)}
    return any(u.instance_id in taken for u in plan.of_type(Unassign))


def plan_only(cfg: Config, store: Store, clock: Clock = utcnow) -> PassResult:
    cfg = cfg.with_edited_authors(store.edited_authors())
    try:
        client = github_client(cfg, store, clock)
        obs = observe(cfg, store, client, clock)
    except ObserveFailed as exc:
        return PassResult(PassOutcome.NOT_OBSERVED, None, problem=str(exc))
    return PassResult(PassOutcome.CLEAN, make_plan(obs.observed, cfg.planner, clock()), github=obs.github)


def _report(
    reporter: Reporter, cfg: Config, store: Store, obs: Observation, plan: Plan, clock: Clock, *, final: bool
) -> ReportResult:
    now = clock()
    try:
        views = _views(cfg, store, obs, plan, now)
        result = reporter.report(views, plan, {pr.number for pr in obs.observed.prs}, final=final)
    except Exception as exc:  # a broken template, the state DB: the pass's work is recorded already
        log.exception("report failed; it is retried on the next pass")
        return ReportResult(problem=f"report failed: {exc}")
    if result.rate_limited_until is not None:
        _note_rate_limit(store, result.rate_limited_until, result.problem, now)
    return result


def release_notices(cfg: Config, store: Store, clock: Clock = utcnow) -> ReleaseNotices:
    """Release notices outside a pass (the CLI); raises ObserveFailed while GitHub says wait."""
    renderer = Renderer(cfg.report.templates_dir)
    return ReleaseNotices(cfg, store, github_client(cfg, store, clock), renderer, clock)


def _notices(
    cfg: Config, store: Store, reporter: Reporter, obs: Observation, clock: Clock
) -> NoticeResult | None:
    """The release notices' step: after the report (the environments come first), never fatal.
    It shares the report's GitHub client and templates."""
    if cfg.release is None:
        return None
    try:
        return ReleaseNotices(
            cfg, store, reporter.client, reporter.out.renderer, clock, obs.instances
        ).watch()
    except Exception as exc:  # a broken template, the state DB: the pass's own work is recorded already
        log.exception("release notices failed; they are retried on the next pass")
        return NoticeResult(problem=f"release notices failed: {exc}")


def end_orphaned_runs(cfg: Config, store: Store, now: dt.datetime) -> None:
    """End what is left of a playbook run whose pass died, before this pass does anything."""
    root = Path(cfg.ansible.artifacts_dir)
    if not root.is_dir():
        return
    for orphan in playbook_guard.end_orphaned_runs(p for p in root.iterdir() if p.is_dir()):
        message = f"ended a playbook run left by a pass that died: {orphan.run_dir.name} (pids {orphan.pids})"
        log.warning("%s", message)
        store.add_event(now, "orphaned_run_ended", message)
    # Events a killed run left half-read: ansible-runner removes them as it reads them, and their
    # data was not yet redacted.
    for partial in root.glob("*/artifacts/*/job_events/*-partial.json*"):
        partial.unlink(missing_ok=True)


def reconcile(cfg: Config, store: Store, clock: Clock = utcnow, cancel: Cancel | None = None) -> PassResult:
    """Run one pass under the pass lock (raises LockHeld if another pass has it).

    Callable from any thread of a long-lived process: it installs no signal handler and never
    exits; ``cancel`` stops its playbook run, whoever sets it. Every message the pass records or
    returns has the controller's secret values taken out (:meth:`Config.redactor`).
    """
    redact = cfg.redactor()
    store = store.redacting(redact)
    with pass_lock(store.engine) as lock:
        now = clock()
        cfg = cfg.with_edited_authors(store.edited_authors())
        end_orphaned_runs(cfg, store, now)
        try:
            client = github_client(cfg, store, clock)
            obs = observe(cfg, store, client, clock)
        except ObserveFailed as exc:
            log.debug("pass stopped before planning: %s", exc)  # the caller says it, once
            store.add_event(now, "observe_failed", str(exc)[:2000])
            return PassResult(PassOutcome.NOT_OBSERVED, None, problem=str(exc))
        reporter = Reporter(cfg, client, store, Renderer(cfg.report.templates_dir), clock)
        try:
            return _apply_and_report(cfg, store, obs, reporter, now, clock, cancel or Cancel(), redact, lock)
        finally:
            store.set_github_state(rate_facts(client.stats), clock())


def _apply_and_report(
    cfg: Config,
    store: Store,
    obs: Observation,
    reporter: Reporter,
    now: dt.datetime,
    clock: Clock,
    cancel: Cancel,
    redact: Callable[[str], str],
    lock: PassLock,
) -> PassResult:
    plan = make_plan(obs.observed, cfg.planner, now)
    for note in plan.notes:
        log.info("%s", note)
    details = {pr.number: (pr.title, pr.author) for pr in obs.observed.prs}
    if not executor.needs_run(plan):
        store.record_intent(plan, now, None)  # the queue may still have moved
        store.note_pull_requests(details)
        apply_pool_changes(cfg, store, plan, now)
        report = _report(reporter, cfg, store, obs, plan, clock, final=True)
        notices = _notices(cfg, store, reporter, obs, clock)
        return PassResult(PassOutcome.CLEAN, plan, github=obs.github, report=report, notices=notices)
    ident = f"{now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}"
    artifacts = os.path.join(os.path.abspath(cfg.ansible.artifacts_dir), ident)
    deployment_ids = store.record_intent(plan, now, artifacts)
    store.note_pull_requests(details)
    apply_pool_changes(cfg, store, plan, now)
    # "In progress" goes to GitHub while Ansible starts up, not before it; except when an
    # instance changes hands: the previous PR's "ready" is withdrawn before its URL can serve
    # the next PR's commit, whatever happens to this pass afterwards.
    early = threading.Thread(
        target=_report, args=(reporter, cfg, store, obs, plan, clock), kwargs={"final": False}, daemon=True
    )
    early.start()
    if _hands_over(plan):
        early.join()
    pin_console_keys(cfg, plan, obs.instances)
    crashpoint.reached("before-run")
    result = executor.apply(plan, obs.instances, cfg, now, ident, cancel)
    outcomes = tuple(o.redacted(redact) for o in result.outcomes)
    early.join()
    crashpoint.reached("after-run")
    # A pass that lost its lock (its MySQL connection dropped during a long run) records nothing:
    # another pass may be acting; the next one judges from what it observes.
    lock.check()
    store.record_outcomes(outcomes, deployment_ids, clock())
    for out in outcomes:
        if not out.ok:
            log.error(
                "PR #%s on %s failed at %r: %s",
                out.pr_number,
                out.instance_id,
                out.failed_task,
                (out.message or "").splitlines()[0:1],
            )
    report = _report(reporter, cfg, store, obs, plan, clock, final=True)
    notices = _notices(cfg, store, reporter, obs, clock)
    failed = any(not o.ok for o in outcomes)
    run_bad = result.run is not None and result.run.status != "successful"
    if run_bad and not plan.of_type(Deploy):
        store.add_event(clock(), "run_failed", result.run.explanation if result.run else "")
    outcome = PassOutcome.FAILURES if failed or run_bad else PassOutcome.CLEAN
    return PassResult(
        outcome,
        plan,
        outcomes,
        github=obs.github,
        artifacts=artifacts,
        report=report,
        run_status=result.run.status if result.run is not None else None,
        notices=notices,
    )
