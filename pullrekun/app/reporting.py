"""Tell each PR what its environment is doing: status or check run, deployment, comment, chat.

A pass reports twice, both times from what it recorded: before the playbook runs
(statuses and deployments go to "in progress", on a thread beside Ansible's start-up)
and after the outcomes are recorded (everything). For each PR and channel the state
DB keeps a fingerprint of what was last sent: an unchanged state sends nothing, so an
idle pass makes no writes. A send that fails leaves the fingerprint alone and the
next pass sends it again; nothing is redeployed for that.

Channels (``reports.channel``): ``status`` (commit status with a token, check run as a
GitHub App), ``deployment``, ``comment``, and one per chat webhook.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pullrekun.adapters.chat import NotifyFailed, webhooks
from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, RateLimited
from pullrekun.adapters.github.publish import GitHubRefused, GitHubWriter, cap
from pullrekun.adapters.state.store import Reported, Store
from pullrekun.app import crashpoint
from pullrekun.app.render import Renderer, safe_url
from pullrekun.config import Config
from pullrekun.core.model import Plan, RevokeApproval
from pullrekun.core.views import Phase, PullRequestView

log = logging.getLogger(__name__)

STATUS, DEPLOYMENT, COMMENT = "status", "deployment", "comment"
INACTIVE = "inactive"

_HEADLINES = {
    Phase.QUEUED: ("⏳", "queued"),
    Phase.SKIPPED: ("⚪", "none for this PR"),
    Phase.DEPLOYING: ("🚀", "deploying"),
    Phase.READY: ("✅", "ready"),
    Phase.FAILED: ("❌", "failed"),
}


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class ReportResult:
    #: Why the report stopped early (the rest goes out on a later pass), or "".
    problem: str = ""
    rate_limited_until: dt.datetime | None = None


class _Stop(Exception):
    pass


class Reporter:
    def __init__(
        self,
        cfg: Config,
        client: GitHubClient,
        store: Store,
        renderer: Renderer,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.writer = GitHubWriter(client)
        self.store = store
        self.renderer = renderer
        self.clock = clock
        self.hooks = webhooks(cfg.report)
        self._result = ReportResult()
        self._final = False
        #: Chat channels whose webhook failed this report: not tried again until the next pass,
        #: so a dead webhook costs one timeout per pass, not one per PR.
        self._dead_hooks: set[str] = set()

    # --- one pass's report -------------------------------------------------------------

    def report(
        self, views: Mapping[int, PullRequestView], plan: Plan, open_prs: Collection[int], *, final: bool
    ) -> ReportResult:
        """Bring every channel in line with ``views``; ``final=False`` sends statuses and deployments only."""
        self._result = ReportResult()
        self._final = final
        self._dead_hooks = set()
        reported = self.store.reported()
        try:
            if final:
                for revoke in plan.of_type(RevokeApproval):
                    self._guarded(functools.partial(self.writer.remove_label, revoke.pr_number, revoke.label))
            for number in sorted(views):
                view = views[number]
                self._guarded(functools.partial(self._status, view, reported.get((number, STATUS))))
                if self.cfg.report.deployments:
                    self._guarded(
                        functools.partial(self._deployment, view, reported.get((number, DEPLOYMENT)))
                    )
                if not final:
                    continue
                if self.cfg.report.comment:
                    self._guarded(functools.partial(self._comment, view, reported.get((number, COMMENT))))
                self._notify(view, reported)
            if final:
                for number in sorted({n for n, _ in reported} - set(open_prs)):
                    self._guarded(functools.partial(self._closed, number, reported))
        except _Stop:
            pass
        return self._result

    def _guarded(self, send: Callable[[], None]) -> None:
        """Run one send; a refusal skips it, GitHub down or rate-limited stops the report."""
        if self.client.low_on_requests():
            self._result.problem = (
                f"only {self.client.stats.rate_remaining} GitHub requests left (reserve "
                f"{self.cfg.github.rate_reserve}); reports wait for the limit to reset"
            )
            log.warning("%s", self._result.problem)
            raise _Stop
        try:
            send()
        except GitHubRefused as exc:
            log.error("GitHub refused a report (skipped; retried next pass): %s", exc)
            self.store.add_event(self.clock(), "report_refused", str(exc)[:2000])
        except RateLimited as exc:
            self._result.problem, self._result.rate_limited_until = str(exc), exc.until
            raise _Stop from exc
        except GitHubUnavailable as exc:
            self._result.problem = str(exc)
            log.warning("GitHub report stopped (the rest is sent on a later pass): %s", exc)
            raise _Stop from exc

    def _save(self, number: int, channel: str, fp: str, sha: str | None, github_id: int | None) -> None:
        self.store.save_report(Reported(number, channel, fp, sha, github_id), self.clock())
        if self._final:
            crashpoint.reached("report")

    # --- status: commit status (token) or check run (App) ----------------------------

    def _status(self, view: PullRequestView, prev: Reported | None) -> None:
        if self.client.app:
            self._check_run(view, prev)
            return
        state, description, target = _commit_status(view)
        fp = fingerprint(state, description, target)
        if prev is not None and prev.sha == view.sha and prev.fingerprint == fp:
            return
        self.writer.commit_status(view.sha, state, description, target, self.cfg.report.context)
        self._save(view.pr.number, STATUS, fp, view.sha, None)

    def _check_run(self, view: PullRequestView, prev: Reported | None) -> None:
        body = self._check_body(view)
        completed = body["status"] == "completed"
        fp = ("c" if completed else "o") + fingerprint(body)[1:]
        same = prev if prev is not None and prev.sha == view.sha else None
        if same is not None and same.fingerprint == fp:
            return
        # A completed run is not reopened: a new state after completion gets a new run.
        reopen = same is not None and same.fingerprint.startswith("c") and not completed
        if same is not None and same.github_id and not reopen:
            self.writer.update_check_run(same.github_id, body)
            run_id = same.github_id
        else:
            run_id = self.writer.create_check_run({"head_sha": view.sha, **body})
        self._save(view.pr.number, STATUS, fp, view.sha, run_id)

    def _check_body(self, view: PullRequestView) -> dict[str, Any]:
        url = safe_url(view.url)
        body: dict[str, Any] = {"name": self.cfg.report.context, "external_id": str(view.pr.number)}
        headline = _HEADLINES[view.phase][1]
        title = cap(
            f"Preview {headline}: {view.detail}" if view.phase != Phase.READY else "Preview ready", 200
        )
        text = self.renderer.markdown("check.md.j2", view=view, url=url)
        body["output"] = {"title": title, "summary": text[:65000]}
        if view.phase == Phase.QUEUED:
            body["status"] = "queued"
        elif view.phase == Phase.DEPLOYING:
            body["status"] = "in_progress"
        else:
            body["status"] = "completed"
            body["conclusion"] = {Phase.READY: "success", Phase.FAILED: "failure"}.get(view.phase, "neutral")
        if url:
            body["details_url"] = str(url)
        return body

    # --- deployment ------------------------------------------------------------------

    def _deployment(self, view: PullRequestView, prev: Reported | None) -> None:
        state = {Phase.DEPLOYING: "in_progress", Phase.READY: "success", Phase.FAILED: "failure"}.get(
            view.phase
        )
        if state is None:  # queued or skipped: what was deployed before is gone
            if prev is not None and prev.github_id and prev.fingerprint != INACTIVE:
                self.writer.deployment_status(prev.github_id, INACTIVE, "No environment now", None)
                self._save(view.pr.number, DEPLOYMENT, INACTIVE, prev.sha, prev.github_id)
            return
        url = safe_url(view.url) if state == "success" else None
        fp = fingerprint(state, str(url or ""))
        if prev is not None and prev.sha == view.sha and prev.fingerprint == fp:
            return
        dep_id = prev.github_id if prev is not None and prev.sha == view.sha else None
        if dep_id is None:
            environment = self.cfg.report.environment.format(pr=view.pr.number)
            dep_id = self.writer.create_deployment(view.sha, environment, f"Preview of PR #{view.pr.number}")
            # Recorded at once: if the status below fails, the next pass reuses this deployment.
            self._save(view.pr.number, DEPLOYMENT, "created", view.sha, dep_id)
        description = {"in_progress": view.detail, "success": "Preview ready"}.get(state, view.detail)
        self.writer.deployment_status(dep_id, state, description, str(url) if url else None)
        self._save(view.pr.number, DEPLOYMENT, fp, view.sha, dep_id)

    # --- the comment -----------------------------------------------------------------

    def _comment_body(self, view: PullRequestView | None, number: int) -> str:
        reset = self.cfg.database.reset_label if self.cfg.database is not None else ""
        if view is None:
            return self.renderer.markdown("comment.md.j2", view=None, closed=True, number=number)
        icon, headline = _HEADLINES[view.phase]
        return self.renderer.markdown(
            "comment.md.j2",
            view=view,
            closed=False,
            number=number,
            url=safe_url(view.url),
            icon=icon,
            headline=headline,
            reset_label=reset,
        )

    def _comment(self, view: PullRequestView, prev: Reported | None) -> None:
        if prev is None and view.phase == Phase.SKIPPED:
            return  # a PR that never had an environment gets its status, not a comment
        body = self._comment_body(view, view.pr.number)
        fp = fingerprint(body)
        if prev is not None and prev.fingerprint == fp:
            return
        self._save(view.pr.number, COMMENT, fp, view.sha, self._put_comment(view.pr.number, body, prev))

    def _put_comment(self, number: int, body: str, prev: Reported | None) -> int:
        comment_id = prev.github_id if prev is not None else None
        if comment_id is None:
            comment_id = self.writer.find_comment(number)
        if comment_id is not None and self.writer.edit_comment(comment_id, body):
            return comment_id
        return self.writer.create_comment(number, body)

    # --- chat ------------------------------------------------------------------------

    def _notify(self, view: PullRequestView, reported: Mapping[tuple[int, str], Reported]) -> None:
        if view.phase not in (Phase.READY, Phase.FAILED):
            return
        fp = fingerprint(view.sha, str(view.phase))
        for hook in self.hooks:
            prev = reported.get((view.pr.number, hook.channel))
            if (prev is not None and prev.fingerprint == fp) or hook.channel in self._dead_hooks:
                continue
            text = self.renderer.chat(
                "notify.txt.j2", view=view, url=safe_url(view.url), pr_url=self._pr_url(view.pr.number)
            )
            try:
                hook.post(text.strip())
            except NotifyFailed as exc:
                log.warning("notification not sent (%s retried next pass): %s", hook.channel, exc)
                self._dead_hooks.add(hook.channel)
                continue
            self._save(view.pr.number, hook.channel, fp, view.sha, None)

    def _pr_url(self, number: int) -> str:
        api = self.cfg.github.api_url.rstrip("/")
        web = "https://github.com" if api == "https://api.github.com" else api.removesuffix("/api/v3")
        return f"{web}/{self.cfg.github.repository}/pull/{number}"

    # --- closed PRs ------------------------------------------------------------------

    def _closed(self, number: int, reported: Mapping[tuple[int, str], Reported]) -> None:
        dep = reported.get((number, DEPLOYMENT))
        if dep is not None and dep.github_id and dep.fingerprint != INACTIVE:
            self.writer.deployment_status(dep.github_id, INACTIVE, "Pull request closed", None)
        comment = reported.get((number, COMMENT))
        if comment is not None and comment.github_id:
            self.writer.edit_comment(comment.github_id, self._comment_body(None, number))
        self.store.forget_reports(number)


def _commit_status(view: PullRequestView) -> tuple[str, str, str | None]:
    """(state, description, target URL) of the commit status for a view."""
    if view.phase == Phase.READY:
        url = safe_url(view.url)
        return "success", "Preview ready" + (f": {url}" if url else ""), str(url) if url else None
    if view.phase == Phase.FAILED:
        task = f" ({view.failed_task})" if view.failed_task else ""
        return "failure", f"Preview failed at the {view.failed_step} step{task}", None
    if view.phase == Phase.SKIPPED:
        # Commit statuses have no "neutral": success never blocks a merge; the text says why.
        return "success", f"No preview: {view.detail}", None
    if view.phase == Phase.QUEUED:
        return "pending", f"Preview queued: {view.detail}", None
    return "pending", f"Preview deploying: {view.detail}", None
