"""One pass: observe -> plan -> record intent -> apply -> record outcomes.

Observation happens once, before any decision, and nothing is re-read while acting.
If GitHub or EC2 cannot be read completely, the pass stops before planning: an
unreadable PR list is never taken to mean "no open PRs".
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from pullrekun import ec2, executor
from pullrekun.config import Config
from pullrekun.github.pulls import GitHubUnavailable, PullRequestSource, RequestStats, connect
from pullrekun.model import Deploy, Instance, Observed, Plan
from pullrekun.planner import plan as make_plan
from pullrekun.state.lock import pass_lock
from pullrekun.state.store import DeployOutcome, Store

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3

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


@dataclass(frozen=True)
class PassResult:
    exit_code: int
    plan: Plan | None
    outcomes: tuple[DeployOutcome, ...] = ()
    problem: str = ""
    github: RequestStats | None = None
    artifacts: str | None = None


def observe(cfg: Config, store: Store, clock: Clock) -> Observation:
    gh = connect(cfg.github, cfg.github_token)
    source = PullRequestSource(gh, cfg.github.repository, store, cfg.github_token, cfg.github.per_page, clock)
    try:
        prs = source.open_pull_requests()
    except GitHubUnavailable as exc:
        raise ObserveFailed(f"GitHub: {exc}") from exc
    try:
        instances = ec2.observe_pool(ec2.client(cfg.ec2), cfg.ec2.pool)
    except ec2.EC2Unavailable as exc:
        raise ObserveFailed(f"EC2: {exc}") from exc
    observed = Observed(prs, instances, store.assignments())
    return Observation(observed, {i.instance_id: i for i in instances}, source.stats)


@contextmanager
def _cancel_on_term() -> Iterator[Callable[[], bool]]:
    """SIGTERM/SIGINT cancel the Ansible run cleanly; outcomes are still recorded."""
    flag = {"cancel": False}

    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("signal %s: canceling the playbook run", signum)
        flag["cancel"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda: flag["cancel"]
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def plan_only(cfg: Config, store: Store, clock: Clock = utcnow) -> PassResult:
    try:
        obs = observe(cfg, store, clock)
    except ObserveFailed as exc:
        return PassResult(EXIT_FAILURES, None, problem=str(exc))
    return PassResult(EXIT_OK, make_plan(obs.observed, cfg.planner, clock()), github=obs.github)


def reconcile(cfg: Config, store: Store, clock: Clock = utcnow) -> PassResult:
    """Run one pass under the pass lock (raises LockHeld if another pass has it)."""
    with pass_lock(store.engine, cfg.ec2.pool):
        now = clock()
        try:
            obs = observe(cfg, store, clock)
        except ObserveFailed as exc:
            log.error("pass stopped before planning: %s", exc)
            store.add_event(now, "observe_failed", str(exc)[:2000])
            return PassResult(EXIT_FAILURES, None, problem=str(exc))
        plan = make_plan(obs.observed, cfg.planner, now)
        for note in plan.notes:
            log.info("%s", note)
        if plan.empty:
            store.record_intent(plan, now, None)  # the queue may still have moved
            return PassResult(EXIT_OK, plan, github=obs.github)
        ident = f"{now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}"
        artifacts = None
        if executor.needs_run(plan):
            artifacts = os.path.join(os.path.abspath(cfg.ansible.artifacts_dir), ident)
        deployment_ids = store.record_intent(plan, now, artifacts)
        with _cancel_on_term() as cancel:
            result = executor.apply(plan, obs.instances, cfg, now, ident, cancel)
        store.record_outcomes(result.outcomes, deployment_ids, clock())
        for out in result.outcomes:
            if not out.ok:
                log.error(
                    "PR #%s on %s failed at %r: %s",
                    out.pr_number,
                    out.instance_id,
                    out.failed_task,
                    (out.message or "").splitlines()[0:1],
                )
        failed = any(not o.ok for o in result.outcomes)
        run_bad = result.run is not None and result.run.status != "successful"
        if run_bad and not plan.of_type(Deploy):
            store.add_event(clock(), "run_failed", result.run.explanation if result.run else "")
        code = EXIT_FAILURES if failed or run_bad else EXIT_OK
        return PassResult(code, plan, result.outcomes, github=obs.github, artifacts=artifacts)
