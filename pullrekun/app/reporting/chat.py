"""Chat notifications (Slack, Google Chat webhooks): once per commit when it is ready or failed."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pullrekun.adapters.chat import NotifyFailed, webhooks
from pullrekun.adapters.state.reports import Reported
from pullrekun.app.render import safe_url
from pullrekun.app.reporting.common import Outbox, fingerprint
from pullrekun.core.views import Phase, PullRequestView

log = logging.getLogger(__name__)


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
        for hook in self.hooks:
            prev = reported.get((view.pr.number, hook.channel))
            if (prev is not None and prev.fingerprint == fp) or hook.channel in self.dead:
                continue
            text = self.out.renderer.chat(
                "notify.txt.j2",
                view=view,
                url=safe_url(view.url),
                pr_url=safe_url(self.out.cfg.github.pr_url(view.pr.number)),
            )
            try:
                hook.post(text.strip())
            except NotifyFailed as exc:
                log.warning("notification not sent (%s retried next pass): %s", hook.channel, exc)
                self.dead.add(hook.channel)
                continue
            self.out.save(view.pr.number, hook.channel, fp, view.sha, None)
