"""Chat notifications (Slack, Google Chat webhooks): once per commit when it is ready or failed,
and once per sign-off (verified or a problem found)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pullrekun.adapters.chat import NotifyFailed, webhooks
from pullrekun.adapters.state.reports import Reported
from pullrekun.app.render import safe_url
from pullrekun.app.reporting.common import Outbox, fingerprint
from pullrekun.core.views import Phase, PullRequestView

log = logging.getLogger(__name__)

#: The report channel a webhook's sign-off messages are tracked under ("slack/sign").
SIGNOFF_SUFFIX = "/sign"


class ChatChannel:
    def __init__(self, out: Outbox) -> None:
        self.out = out
        self.hooks = webhooks(out.cfg.report)
        #: Webhooks that failed this report: not tried again until the next pass, so a dead
        #: webhook costs one timeout per pass, not one per PR.
        self.dead: set[str] = set()

    def send(self, view: PullRequestView, reported: Mapping[tuple[int, str], Reported]) -> None:
        if view.phase not in (Phase.READY, Phase.FAILED):
            return
        fp = fingerprint(view.sha, str(view.phase))
        self._post(view, "", fp, view.sha, reported, "notify.txt.j2", url=safe_url(view.url))

    def signed_off(self, view: PullRequestView, reported: Mapping[tuple[int, str], Reported]) -> None:
        """Say the PR's newest sign-off once (at whatever commit it was given)."""
        latest = view.signoff
        if latest is None:
            return
        fp = fingerprint(latest.sha, latest.ok, latest.note, latest.actor, latest.at)
        self._post(view, SIGNOFF_SUFFIX, fp, latest.sha, reported, "signoff.txt.j2", signoff=latest)

    def _post(
        self,
        view: PullRequestView,
        suffix: str,
        fp: str,
        sha: str,
        reported: Mapping[tuple[int, str], Reported],
        template: str,
        **context: object,
    ) -> None:
        """Post one message to each webhook that has not had it (a failed one is retried next pass)."""
        for hook in self.hooks:
            channel = hook.channel + suffix
            prev = reported.get((view.pr.number, channel))
            if (prev is not None and prev.fingerprint == fp) or hook.channel in self.dead:
                continue
            text = self.out.renderer.chat(
                template, view=view, pr_url=safe_url(self.out.cfg.github.pr_url(view.pr.number)), **context
            )
            try:
                # Google Chat drops a repeat of the same message id: a retry after a lost answer
                # does not say it twice.
                hook.post(text.strip(), message_id=f"pr{view.pr.number}-{fp[:24]}")
            except NotifyFailed as exc:
                log.warning("notification not sent (%s retried next pass): %s", channel, exc)
                self.dead.add(hook.channel)
                continue
            self.out.save(view.pr.number, channel, fp, sha, None)
