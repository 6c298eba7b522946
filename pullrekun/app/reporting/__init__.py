"""Tell each PR what its environment is doing: status or check run, deployment, comment, chat.

A pass reports twice, both times from what it recorded: before the playbook runs
(statuses and deployments go to "in progress", on a thread beside Ansible's start-up)
and after the outcomes are recorded (everything). For each PR and channel the state
DB keeps a fingerprint of what was last sent: an unchanged state sends nothing, so an
idle pass makes no writes. A send that fails leaves the fingerprint alone and the
next pass sends it again; nothing is redeployed for that.

One module per channel (``reports.channel`` in the state DB): ``status`` (commit status
with a token, check run as a GitHub App), ``deployment``, ``comment``, and one per chat
webhook. :class:`Reporter` runs them in order and stops when GitHub says stop.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, RateLimited
from pullrekun.adapters.github.publish import GitHubRefused, GitHubWriter
from pullrekun.adapters.state.reports import Reported
from pullrekun.adapters.state.store import Store
from pullrekun.app.render import Renderer
from pullrekun.app.reporting.chat import ChatChannel
from pullrekun.app.reporting.comment import CommentChannel
from pullrekun.app.reporting.common import COMMENT, DEPLOYMENT, STATUS, Outbox, fingerprint
from pullrekun.app.reporting.deployment import DeploymentChannel
from pullrekun.app.reporting.status import StatusChannel
from pullrekun.app.reporting.verified import VERIFIED, VerifiedChannel
from pullrekun.config import Config
from pullrekun.core.model import Plan
from pullrekun.core.views import PullRequestView

__all__ = ["ReportResult", "Reporter", "fingerprint"]

log = logging.getLogger(__name__)


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
        self.store = store
        self.clock = clock
        self.out = Outbox(cfg, GitHubWriter(client), store, renderer, clock)
        self.status = StatusChannel(self.out, app=client.app)
        self.deployment = DeploymentChannel(self.out)
        self.comment = CommentChannel(self.out)
        self.chat = ChatChannel(self.out)
        self.verified = VerifiedChannel(self.out, app=client.app)
        self._result = ReportResult()

    def report(
        self, views: Mapping[int, PullRequestView], plan: Plan, open_prs: Collection[int], *, final: bool
    ) -> ReportResult:
        """Bring every channel in line with ``views``; ``final=False`` sends statuses and deployments only."""
        self._result = ReportResult()
        self.out.final = final
        self.chat.dead = set()
        reported = self.store.reports.last_sent()
        try:
            for number in sorted(views):
                view = views[number]
                self._guarded(functools.partial(self.status.send, view, reported.get((number, STATUS))))
                if self.cfg.verify.publish:
                    prev_verified = reported.get((number, VERIFIED))
                    self._guarded(functools.partial(self.verified.send, view, prev_verified))
                # A deployment at a fork's commit would start a `deployment` workflow with the
                # repository's secrets on the fork's code: only when asked for.
                if self.cfg.report.deployments and (
                    self.cfg.report.fork_deployments or not view.pr.from_fork
                ):
                    prev = reported.get((number, DEPLOYMENT))
                    self._guarded(functools.partial(self.deployment.send, view, prev))
                if not final:
                    continue
                if self.cfg.report.comment:
                    self._guarded(functools.partial(self.comment.send, view, reported.get((number, COMMENT))))
                self.chat.send(view, reported)
                self.chat.signed_off(view, reported)
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
            self.store.events.add(self.clock(), "report_refused", str(exc)[:2000])
        except RateLimited as exc:
            self._result.problem, self._result.rate_limited_until = str(exc), exc.until
            raise _Stop from exc
        except GitHubUnavailable as exc:
            self._result.problem = str(exc)
            log.warning("GitHub report stopped (the rest is sent on a later pass): %s", exc)
            raise _Stop from exc

    def _closed(self, number: int, reported: Mapping[tuple[int, str], Reported]) -> None:
        self.deployment.closed(reported.get((number, DEPLOYMENT)))
        self.comment.closed(number, reported.get((number, COMMENT)))
        self.store.reports.forget(number)
