"""One pass, top to bottom: observe, plan, record intent, dispatch, record outcomes, report.

Observation happens once, before any decision (:mod:`pullrekun.app.observe`), and nothing is
re-read while acting. The plan is a pure function of it. The intent is committed before any
action is carried out (:mod:`pullrekun.app.dispatch` says what carries out what), the outcomes
after, and the report is sent from what was recorded. Killed at any instruction, the pass leaves
a state the next pass finishes from what it observes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pullrekun.adapters.github.client import GitHubClient, backoff_facts, rate_facts
from pullrekun.adapters.playbook import apply as playbook
from pullrekun.adapters.playbook import launch as launch_run
from pullrekun.adapters.playbook import orphans as playbook_orphans
from pullrekun.adapters.playbook.launch import LaunchOutcome
from pullrekun.adapters.state.lock import PassLock, pass_lock
from pullrekun.adapters.state.store import Store
from pullrekun.app import crashpoint
from pullrekun.app.bookkeeping import write_tags
from pullrekun.app.dispatch import Carrier, Done, Executor, carries, dispatch
from pullrekun.app.hostkeys import pin_console_keys
from pullrekun.app.notices import NoticeResult, ReleaseNotices
from pullrekun.app.observe import Observation, ObserveFailed, github_client, observe, reading
from pullrekun.app.pool import read_pool
from pullrekun.app.poolchanges import change_pool, record_pool_changes
from pullrekun.app.readmodel import environment_views
from pullrekun.app.render import Renderer
from pullrekun.app.reporting import Reporter, ReportResult
from pullrekun.app.results import Cancel, Clock, PassOutcome, PassResult, utcnow
from pullrekun.app.revocations import revoke_approvals
from pullrekun.app.sleepview import pr_costs
from pullrekun.config import Config
from pullrekun.config.secrets import redactor
from pullrekun.core.fleet import LaunchInstance
from pullrekun.core.model import (
    Action,
    Assign,
    Deploy,
    DropSchema,
    Plan,
    StopInstance,
    Unassign,
    UntagInstance,
)
from pullrekun.core.planner import plan as make_plan
from pullrekun.core.servers import SwitchServer
from pullrekun.core.views import EnvironmentView, Phase, PullRequestView, build_views

log = logging.getLogger(__name__)


def note_rate_limit(store: Store, until: dt.datetime, reason: str, now: dt.datetime, *, said: bool) -> None:
    """Record a back-off; ``said=False`` when the pass's own result line says it already."""
    log.log(logging.WARNING if said else logging.DEBUG, "GitHub: %s; no GitHub requests until then", reason)
    store.github_facts.write(backoff_facts(until, reason), now)
    store.events.add(now, "github_rate_limited", reason[:2000])


def _without_launches(plan: Plan) -> Plan:
    """``plan`` minus its launches: a pass launches once, before its plan."""
    kept = tuple(a for a in plan.actions if not isinstance(a, LaunchInstance))
    return dataclasses.replace(plan, actions=kept)


def _hands_over(plan: Plan) -> bool:
    """Whether an instance a PR loses goes to another PR in this plan."""
    taken = {a.instance_id for a in plan.of_type(Assign)}
    return any(u.instance_id in taken for u in plan.of_type(Unassign))


def plan_only(cfg: Config, store: Store, clock: Clock = utcnow) -> PassResult:
    """Observe and plan, nothing recorded or done (``pullrekun plan``)."""
    try:
        obs = observe(cfg, store, github_client(cfg, store, clock), clock)
    except ObserveFailed as exc:
        return PassResult(PassOutcome.NOT_OBSERVED, None, problem=str(exc))
    return PassResult(PassOutcome.CLEAN, make_plan(obs.observed, cfg.planner, clock()), github=obs.github)


def release_notices(cfg: Config, store: Store, clock: Clock = utcnow) -> ReleaseNotices:
    """Release notices outside a pass (the CLI); raises ObserveFailed while GitHub says wait."""
    renderer = Renderer(cfg.report.templates_dir)
    return ReleaseNotices(cfg, store, github_client(cfg, store, clock), renderer, clock)


def end_orphaned_runs(cfg: Config, store: Store, now: dt.datetime) -> None:
    """End what is left of a playbook run whose pass died, before this pass does anything."""
    root = Path(cfg.ansible.artifacts_dir)
    if not root.is_dir():
        return
    for orphan in playbook_orphans.end_orphaned_runs(p for p in root.iterdir() if p.is_dir()):
        message = f"ended a playbook run left by a pass that died: {orphan.run_dir.name} (pids {orphan.pids})"
        log.warning("%s", message)
        store.events.add(now, "orphaned_run_ended", message)
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
    store = store.redacting(redactor(cfg))
    with pass_lock(store.engine) as lock:
        return Pass(cfg, store, clock, cancel or Cancel(), lock).run()


class Pass:
    """One pass's steps, in the order :meth:`run` takes them."""

    def __init__(self, cfg: Config, store: Store, clock: Clock, cancel: Cancel, lock: PassLock) -> None:
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.cancel = cancel
        self.lock = lock
        self.now = clock()
        self.ident = f"{self.now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}"

    def run(self) -> PassResult:
        end_orphaned_runs(self.cfg, self.store, self.now)
        launched: tuple[LaunchOutcome, ...] = ()
        try:
            client = github_client(self.cfg, self.store, self.clock)
            obs = observe(self.cfg, self.store, client, self.clock)
        except ObserveFailed as exc:
            return self.not_observed(exc)
        holders = {a.instance_id: a.pr_number for a in obs.observed.assignments}
        self.store.usage.observe(obs.observed.instances, holders, self.now)
        try:
            reporter = Reporter(
                self.cfg, client, self.store, Renderer(self.cfg.report.templates_dir), self.clock
            )
            plan = make_plan(obs.observed, self.cfg.planner, self.now)
            if carries(plan, Carrier.LAUNCH):
                obs, plan, launched = self.launch_round(obs, plan)
            for note in plan.notes:
                log.info("%s", note)
            artifacts = self.artifacts(plan)
            deployment_ids = self.store.journal.record_intent(
                plan, self.now, artifacts, details=obs.details, heads=obs.heads
            )
            with self.early_report(reporter, obs, plan):
                done = dispatch(plan, self.executors(client, obs))
            if carries(plan, Carrier.PLAYBOOK):
                crashpoint.reached("after-run")
            self.record_outcomes(plan, done, deployment_ids)
            report = self.report(reporter, obs, plan, final=True)
            notices = self.notices(reporter, obs)
            return self.result(plan, done, obs, artifacts, report, notices, launched)
        finally:
            self.store.github_facts.write(rate_facts(client.stats), self.clock())

    # --- the steps --------------------------------------------------------------------------

    def launch_round(
        self, obs: Observation, plan: Plan
    ) -> tuple[Observation, Plan, tuple[LaunchOutcome, ...]]:
        """The plan's launches first (recorded, then carried out), then the pool read again and
        the plan made again: the new instances are bootstrapped and deployed by this pass's
        run. A launch not seen in the pool yet stays in flight for the next pass (never asked
        twice in a pass)."""
        launches = plan.of_type(LaunchInstance)
        self.store.fleet.record_launches(plan, self.now)
        crashpoint.reached("before-launch")
        outcomes, _run = launch_run.launch(launches, self.cfg, self.now, self.ident, self.cancel)
        crashpoint.reached("after-launch")
        now = self.clock()
        for out in outcomes:
            if not out.ok:
                log.error("launch %s failed: %s", out.token, out.problem)
                self.store.fleet.launch_failed(out.token, out.problem, now, self.cfg.ec2.fleet.retry_at)
        try:
            with reading("EC2"):
                pool = read_pool(self.cfg, obs.observed.edited_authors)
        except ObserveFailed as exc:
            log.warning("the pool could not be read again after launching: %s", exc)
            return obs, _without_launches(plan), outcomes
        observed = dataclasses.replace(
            obs.observed,
            instances=pool.instances,
            servers=pool.servers,
            launches=self.store.fleet.records(),
            launch_requests=self.store.fleet.launch_requests(),
        )
        obs = dataclasses.replace(
            obs, observed=observed, instances={i.instance_id: i for i in pool.instances}
        )
        return obs, _without_launches(make_plan(observed, self.cfg.planner, self.now)), outcomes

    def not_observed(self, exc: ObserveFailed) -> PassResult:
        log.debug("pass stopped before planning: %s", exc)  # the caller says it, once
        if exc.rate_limited_until is not None:
            note_rate_limit(self.store, exc.rate_limited_until, str(exc), self.clock(), said=False)
        self.store.events.add(self.now, "observe_failed", str(exc)[:2000])
        return PassResult(PassOutcome.NOT_OBSERVED, None, problem=str(exc))

    def artifacts(self, plan: Plan) -> str | None:
        """The playbook run's directory, when the plan needs a run."""
        if not carries(plan, Carrier.PLAYBOOK):
            return None
        return os.path.join(os.path.abspath(self.cfg.ansible.artifacts_dir), self.ident)

    def executors(self, client: GitHubClient, obs: Observation) -> dict[Carrier, Executor]:
        def pool(actions: tuple[Action, ...], _plan: Plan, _before: Done) -> Done:
            return Done(pool_changes=change_pool(self.cfg, actions))

        def github(actions: tuple[Action, ...], _plan: Plan, _before: Done) -> Done:
            return Done(revocations=revoke_approvals(client, actions))

        def tag(actions: tuple[Action, ...], plan: Plan, before: Done) -> Done:
            crashpoint.reached("tags")
            deployed = frozenset(o.instance_id for o in before.deploys if o.ok)
            run = before.run
            stopped = frozenset(
                s.instance_id
                for s in plan.of_type(StopInstance)
                if run is not None and run.host_ok(s.instance_id)
            )
            return Done(untagged=write_tags(self.cfg, actions, deployed, stopped))

        def run_playbook(_actions: tuple[Action, ...], plan: Plan, _before: Done) -> Done:
            pin_console_keys(self.cfg, plan, obs.instances)
            crashpoint.reached("before-run")
            result = playbook.apply(plan, obs.instances, self.cfg, self.now, self.ident, self.cancel)
            run = result.run
            dropped = {
                d.instance_id: d.schema
                for d in plan.of_type(DropSchema)
                if run and run.host_ok(d.instance_id)
            }
            deploys = tuple(o.redacted(self.store.redact) for o in result.outcomes)
            return Done(
                deploys, run, dropped=dropped, terminated=result.terminated, protected=result.protected
            )

        return {Carrier.EC2: pool, Carrier.GITHUB: github, Carrier.PLAYBOOK: run_playbook, Carrier.TAGS: tag}

    @contextmanager
    def early_report(self, reporter: Reporter, obs: Observation, plan: Plan) -> Iterator[None]:
        """ "In progress" goes to GitHub while Ansible starts up, not before it; except when an
        instance changes hands: the previous PR's "ready" is withdrawn before its URL can serve
        the next PR's commit, whatever happens to this pass afterwards."""
        if not carries(plan, Carrier.PLAYBOOK):
            yield
            return
        early = threading.Thread(
            target=self.report, args=(reporter, obs, plan), kwargs={"final": False}, daemon=True
        )
        early.start()
        if _hands_over(plan):
            early.join()
        try:
            yield
        finally:
            early.join()

    def record_outcomes(self, plan: Plan, done: Done, deployment_ids: dict[int, int]) -> None:
        # A pass that lost its lock (its MySQL connection dropped during a long run) records
        # nothing: another pass may be acting; the next one judges from what it observes.
        self.lock.check()
        now = self.clock()
        self.store.journal.record_outcomes(done.deploys, deployment_ids, now)
        self.store.journal.schema_dropped(done.dropped, now)
        booted = {d.instance_id for d in plan.of_type(Deploy) if d.bootstrap}
        self.store.fleet.bootstrapped(
            (o.instance_id for o in done.deploys if o.ok and o.instance_id in booted), now
        )
        self.store.fleet.terminated(done.terminated, now)
        self.store.fleet.protected(done.protected, now)
        for stop in plan.of_type(StopInstance):
            if stop.swept and done.run is not None and done.run.host_ok(stop.instance_id):
                self.store.events.add(now, "swept", f"stopped: {stop.reason}", instance_id=stop.instance_id)
        for untag in plan.of_type(UntagInstance):
            if untag.swept and untag.instance_id not in done.untagged:
                self.store.events.add(
                    now, "swept", f"tags cleared: {untag.reason}", instance_id=untag.instance_id
                )
        record_pool_changes(self.store, done.pool_changes, now)
        for iid, problem in sorted(done.untagged.items()):
            self.store.events.add(now, "tag_failed", f"tags not written: {problem}"[:2000], instance_id=iid)
        if done.run is not None:
            run = done.run
            self.store.servers.switched(
                {s: run.host_ok(s.instance_id) for s in plan.of_type(SwitchServer)}, now
            )
        for revoked in done.revocations:
            if revoked.refused:
                self.store.events.add(now, "report_refused", revoked.problem[:2000], revoked.pr_number)
            if revoked.rate_limited_until is not None:
                note_rate_limit(self.store, revoked.rate_limited_until, revoked.problem, now, said=True)
        for out in done.deploys:
            if not out.ok:
                first = (out.message or "").splitlines()[0:1]
                log.error(
                    "PR #%s on %s failed at %r: %s", out.pr_number, out.instance_id, out.failed_task, first
                )
        if done.run is not None and not done.run.ok and not plan.of_type(Deploy):
            self.store.events.add(now, "run_failed", done.run.explanation)

    def report(self, reporter: Reporter, obs: Observation, plan: Plan, *, final: bool) -> ReportResult:
        now = self.clock()
        try:
            envs = environment_views(self.cfg, self.store.journal.environments(), obs.instances)
            views = self.views(obs, plan, envs, now)
            if final:
                self.store.pulls.record(views)
            result = reporter.report(views, plan, {pr.number for pr in obs.observed.prs}, final=final)
        except Exception as exc:  # a broken template, the state DB: the pass's work is recorded already
            log.exception("report failed; it is retried on the next pass")
            return ReportResult(problem=f"report failed: {exc}")
        if result.rate_limited_until is not None:
            note_rate_limit(self.store, result.rate_limited_until, result.problem, now, said=True)
        return result

    def views(
        self, obs: Observation, plan: Plan, envs: Mapping[int, EnvironmentView], now: dt.datetime
    ) -> dict[int, PullRequestView]:
        queued_since = {pr: since for pr, _, since in self.store.journal.queue()}
        report = self.cfg.report
        views = build_views(
            obs.observed.prs,
            plan,
            envs,
            queued_since,
            now,
            report.queue_positions,
            report.show_output,
            report.show_output_public,
            report.scenario_heading,
        )
        signoffs = self.store.signoffs.latest()
        views = {n: dataclasses.replace(v, signoff=signoffs.get(n)) for n, v in views.items()}
        costs = pr_costs(self.cfg, self.store, list(views), now)
        table = self.cfg.cost.table
        # From half an hour on (the line moves in half-hour steps: no comment edit every pass).
        views = {
            n: dataclasses.replace(v, cost=costs[n].text(table))
            if n in costs and costs[n].hours >= 0.5
            else v
            for n, v in views.items()
        }
        if self.cfg.serve.wake_links:
            # The link through serve: up, it forwards; asleep, it wakes the environment.
            linked = (Phase.READY, Phase.ASLEEP, Phase.DEPLOYING)
            views = {
                n: dataclasses.replace(v, url=self.cfg.serve.link(n)) if v.phase in linked else v
                for n, v in views.items()
            }
        return views

    def notices(self, reporter: Reporter, obs: Observation) -> NoticeResult | None:
        """The release notices' step: after the report (the environments come first), never
        fatal. It shares the report's GitHub client and templates."""
        if self.cfg.release is None:
            return None
        try:
            return ReleaseNotices(
                self.cfg, self.store, reporter.client, reporter.out.renderer, self.clock, obs.instances
            ).watch()
        except Exception as exc:  # a broken template, the state DB: the pass's own work is recorded already
            log.exception("release notices failed; they are retried on the next pass")
            return NoticeResult(problem=f"release notices failed: {exc}")

    def result(
        self,
        plan: Plan,
        done: Done,
        obs: Observation,
        artifacts: str | None,
        report: ReportResult,
        notices: NoticeResult | None,
        launched: tuple[LaunchOutcome, ...] = (),
    ) -> PassResult:
        run_bad = done.run is not None and not done.run.ok
        failed = run_bad or any(not o.ok for o in done.deploys)
        return PassResult(
            PassOutcome.FAILURES if failed else PassOutcome.CLEAN,
            plan,
            done.deploys,
            github=obs.github,
            artifacts=artifacts,
            report=report,
            run_status=str(done.run.status) if done.run is not None else None,
            notices=notices,
            launches=launched,
        )
