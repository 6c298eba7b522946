"""The status on the PR's head commit: a commit status (token) or a check run (GitHub App)."""

from __future__ import annotations

from typing import Any

from pullrekun.adapters.github.publish import cap
from pullrekun.adapters.state.reports import Reported
from pullrekun.app.render import safe_url
from pullrekun.app.reporting.common import HEADLINES, STATUS, Outbox, fingerprint
from pullrekun.core.views import Phase, PullRequestView


class StatusChannel:
    def __init__(self, out: Outbox, app: bool) -> None:
        self.out = out
        self.app = app

    def send(self, view: PullRequestView, prev: Reported | None) -> None:
        if self.app:
            self._check_run(view, prev)
            return
        state, description, target = commit_status(view)
        fp = fingerprint(state, description, target)
        if prev is not None and prev.sha == view.sha and prev.fingerprint == fp:
            return
        self.out.writer.commit_status(view.sha, state, description, target, self.out.cfg.report.context)
        self.out.save(view.pr.number, STATUS, fp, view.sha, None)

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
            self.out.writer.update_check_run(same.github_id, body)
            run_id = same.github_id
        else:
            run_id = self.out.writer.create_check_run({"head_sha": view.sha, **body})
        self.out.save(view.pr.number, STATUS, fp, view.sha, run_id)

    def _check_body(self, view: PullRequestView) -> dict[str, Any]:
        url = safe_url(view.url)
        body: dict[str, Any] = {"name": self.out.cfg.report.context, "external_id": str(view.pr.number)}
        headline = HEADLINES[view.phase][1]
        title = cap(
            f"Preview {headline}: {view.detail}" if view.phase != Phase.READY else "Preview ready", 200
        )
        text = self.out.renderer.markdown("check.md.j2", view=view, url=url)
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


def commit_status(view: PullRequestView) -> tuple[str, str, str | None]:
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
    if view.phase == Phase.ASLEEP:
        # Success: a sleeping preview never blocks a merge; the text says why and what wakes it.
        return "success", cap(f"Preview sleeping: {view.detail}", 140), None
    return "pending", f"Preview deploying: {view.detail}", None
