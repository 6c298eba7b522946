"""The sign-off status on each PR's head (``verify.context``): success "Verified by @alice on
the preview" or failure "Problem found by @bob: ..." only for a sign-off given at that very
commit; pending "Not yet verified at abc1234" otherwise, so a push turns it pending. A commit
status with a token, a check run as a GitHub App."""

from __future__ import annotations

from typing import Any

from pullrekun.adapters.github.publish import cap
from pullrekun.adapters.state.reports import Reported
from pullrekun.app.reporting.common import Outbox, fingerprint
from pullrekun.core.signoff import verified_status
from pullrekun.core.views import PullRequestView

VERIFIED = "verified"
_CONCLUSION = {"success": "success", "failure": "failure"}


class VerifiedChannel:
    def __init__(self, out: Outbox, app: bool) -> None:
        self.out = out
        self.app = app

    def send(self, view: PullRequestView, prev: Reported | None) -> None:
        state, description = verified_status(view.signoff, view.sha)
        context = self.out.cfg.verify.context
        fp = fingerprint(state, description, context)
        if prev is not None and prev.sha == view.sha and prev.fingerprint == fp:
            return
        writer = self.out.writer
        if not self.app:
            writer.commit_status(view.sha, state, description, None, context)
            self.out.save(view.pr.number, VERIFIED, fp, view.sha, None)
            return
        body: dict[str, Any] = {
            "name": context,
            "external_id": f"{view.pr.number}:verified",
            "output": {"title": cap(description, 200), "summary": description},
        }
        if state == "pending":
            body["status"] = "queued"
        else:
            body.update(status="completed", conclusion=_CONCLUSION[state])
        same = prev if prev is not None and prev.sha == view.sha else None
        if same is not None and same.github_id and state != "pending":
            writer.update_check_run(same.github_id, body)
            run_id = same.github_id
        else:
            run_id = writer.create_check_run({"head_sha": view.sha, **body})
        self.out.save(view.pr.number, VERIFIED, fp, view.sha, run_id)
