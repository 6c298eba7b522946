"""The PR's GitHub deployment: in progress, success with the URL, failure, inactive when gone."""

from __future__ import annotations

from pullrekun.adapters.state.reports import Reported
from pullrekun.app.render import safe_url
from pullrekun.app.reporting.common import DEPLOYMENT, INACTIVE, Outbox, fingerprint
from pullrekun.core.views import Phase, PullRequestView


class DeploymentChannel:
    def __init__(self, out: Outbox) -> None:
        self.out = out

    def send(self, view: PullRequestView, prev: Reported | None) -> None:
        writer = self.out.writer
        state = {Phase.DEPLOYING: "in_progress", Phase.READY: "success", Phase.FAILED: "failure"}.get(
            view.phase
        )
        if state is None:  # queued or skipped: what was deployed before is gone
            if prev is not None and prev.github_id and prev.fingerprint != INACTIVE:
                writer.deployment_status(prev.github_id, INACTIVE, "No environment now", None)
                self.out.save(view.pr.number, DEPLOYMENT, INACTIVE, prev.sha, prev.github_id)
            return
        url = safe_url(view.url) if state == "success" else None
        fp = fingerprint(state, str(url or ""))
        if prev is not None and prev.sha == view.sha and prev.fingerprint == fp:
            return
        dep_id = prev.github_id if prev is not None and prev.sha == view.sha else None
        if dep_id is None:
            environment = self.out.cfg.report.environment.format(pr=view.pr.number)
            dep_id = writer.create_deployment(view.sha, environment, f"Preview of PR #{view.pr.number}")
            # Recorded at once: if the status below fails, the next pass reuses this deployment.
            self.out.save(view.pr.number, DEPLOYMENT, "created", view.sha, dep_id)
        description = {"in_progress": view.detail, "success": "Preview ready"}.get(state, view.detail)
        writer.deployment_status(dep_id, state, description, str(url) if url else None)
        self.out.save(view.pr.number, DEPLOYMENT, fp, view.sha, dep_id)

    def closed(self, prev: Reported | None) -> None:
        """The PR was closed: its deployment goes inactive."""
        if prev is not None and prev.github_id and prev.fingerprint != INACTIVE:
            self.out.writer.deployment_status(prev.github_id, INACTIVE, "Pull request closed", None)
