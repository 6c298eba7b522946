"""Release notices: tell the team in chat what reached production, and what is waiting to.

Each pass (after its report) reads where production is and compares it with the last sha the
ledger recorded. A move is judged (:func:`pullrekun.core.releases.judge_move`), its pull requests
read from GitHub, its message rendered and recorded with one pending send per chat channel, and
only then sent. The first sha ever read is recorded without announcing history. When production
cannot be read, nothing is concluded: no notice, the pass goes on, ``status`` says why.

The waiting-for-release notice lists the merged PRs on ``base_branch`` that production does not
run, with each one's risk notes. It is asked for (``pullrekun release-notes --pending --post``,
the dashboard, the API) or due by ``pending_schedule``; a pass renders and sends it.

Sends are exactly once where the channel allows it: see :mod:`pullrekun.adapters.state.notices`.
A send that surely failed (refused, an error answer) stays pending for the next pass; one whose
answer never came is sent again only to Google Chat (its message id makes the repeat harmless),
and on Slack is marked ``unknown``: never repeated, said in ``status``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pullrekun.adapters.chat import GOOGLE_CHAT, SLACK, Webhook, webhooks_from
from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable
from pullrekun.adapters.github.history import HistoryReader, ProductionUnreadable
from pullrekun.adapters.github.publish import GitHubRefused, GitHubWriter
from pullrekun.adapters.github.pulls import PullRequestSource
from pullrekun.adapters.production import read_url_sha
from pullrekun.adapters.state.notices import (
    PR_CHANNEL,
    NoticeLedger,
)
from pullrekun.adapters.state.store import Store
from pullrekun.app.notice_outbox import NoticeOutbox
from pullrekun.app.notice_text import NoticeText
from pullrekun.app.render import Renderer
from pullrekun.config import Config, ReleaseConfig
from pullrekun.core.model import Instance
from pullrekun.core.releases import (
    Move,
    ReleasedPR,
    decide_release,
    due_posting,
    needs_comparison,
    parse_posting_time,
    released_prs,
    same_commit,
)

log = logging.getLogger(__name__)
#: Sends to GitHub (PR comments) stop together when GitHub fails, like a dead webhook.
GITHUB = "github"

Clock = Callable[[], dt.datetime]
#: Keys of the state DB's release facts where the last production read is kept (for ``status``).
PRODUCTION_SHA, PRODUCTION_READ_AT, PRODUCTION_PROBLEM = (
    "production_sha",
    "production_read_at",
    "production_problem",
)
#: What the draft release was last written from ("<production>...<base head>"), and its id.
DRAFT_KEY, DRAFT_ID = "release_draft_key", "release_draft_id"


@dataclass
class NoticeResult:
    production_sha: str | None = None
    #: Why production could not be read, or a send failed ("" when all went well).
    problem: str = ""
    recorded: tuple[int, ...] = ()
    sent: int = 0


def release_webhooks(cfg: Config) -> tuple[Webhook, ...]:
    """The release channels: ``[release]``'s webhook variables, else ``[report]``'s."""
    rel = cfg.release
    slack = (rel.slack_webhook_env if rel else "") or cfg.report.slack_webhook_env
    gchat = (rel.google_chat_webhook_env if rel else "") or cfg.report.google_chat_webhook_env
    return webhooks_from(((SLACK, slack), (GOOGLE_CHAT, gchat)), cfg.report.notify_timeout)


class ReleaseNotices:
    def __init__(
        self,
        cfg: Config,
        store: Store,
        client: GitHubClient,
        renderer: Renderer,
        clock: Clock,
        instances: Mapping[str, Instance] | None = None,
    ) -> None:
        assert cfg.release is not None, "no [release] section"
        self.cfg = cfg
        self.rel: ReleaseConfig = cfg.release
        self.store = store
        self.ledger = NoticeLedger(store)
        self.renderer = renderer
        self.clock = clock
        self.hooks = release_webhooks(cfg)
        self.history = HistoryReader(client, PullRequestSource(client, store.http_cache, clock))
        self.writer = GitHubWriter(client)
        self.text = NoticeText(cfg, self.rel, store, renderer, instances or {})
        self.outbox = NoticeOutbox(self.ledger, self.hooks, self.writer, renderer, store.events, clock)

    # --- where production is ------------------------------------------------------------

    def production(self) -> str:
        """Production's sha now; raises ProductionUnreadable or GitHubUnavailable."""
        if self.rel.source == "url":
            return read_url_sha(self.rel.url, self.rel.url_json_field, self.rel.url_timeout)
        return self.history.production_sha(self.rel)

    def _note(self, sha: str | None, problem: str) -> None:
        now = self.clock()
        facts: dict[str, str | None] = {PRODUCTION_PROBLEM: problem[:500] or None}
        if sha is not None:
            facts |= {PRODUCTION_SHA: sha, PRODUCTION_READ_AT: now.isoformat()}
        before = self.store.release_facts.read().get(PRODUCTION_PROBLEM)
        self.store.release_facts.write(facts, now)
        if problem and problem != before:  # said once, not every pass
            self.store.events.add(now, "production_unreadable", problem)

    # --- the pass's step ----------------------------------------------------------------

    def watch(self) -> NoticeResult:
        """Judge production's move (recording a notice before any send), then send what is unsent."""
        result = NoticeResult()
        try:
            current = self.production()
        except (ProductionUnreadable, GitHubUnavailable) as exc:
            result.problem = f"production's sha: {exc}"
            log.warning("release notices: %s", result.problem)
            self._note(None, result.problem)
        else:
            result.production_sha = current
            self._note(current, "")
            try:
                result.recorded = self._judge(current)
                result.recorded += self._pending_requests(current)
            except (ProductionUnreadable, GitHubUnavailable) as exc:
                result.problem = f"release notice not written (tried again next pass): {exc}"
                log.warning("%s", result.problem)
            if self.rel.draft_release and not result.problem:
                result.problem = self._draft(current)
        result.sent, problem = self.outbox.send_unsent()
        result.problem = result.problem or problem
        return result

    def _judge(self, current: str) -> tuple[int, ...]:
        """Read what the decision needs, decide (pure), record the notice before any send."""
        last = self.ledger.last_move()
        last_sha = last.sha if last is not None else None
        comparison, status, unreadable = None, None, ""
        if last_sha is not None and needs_comparison(last_sha, current):
            try:
                comparison = self.history.compare(last_sha, current)
                status = comparison.status
            except ProductionUnreadable as exc:
                unreadable = str(exc)
        decision = decide_release(last_sha, current, status, unreadable)
        now = self.clock()
        if not decision.kind:
            return ()
        if decision.kind == "unlinked":
            moved = f"production moved from {(last_sha or '')[:12]} to {current[:12]}"
            message = f"{moved}, not announced: {unreadable}"
            self.store.events.add(now, "release_unlinked", message)
        if decision.listed is None:
            log.info("release notices: production is at %s (recorded, not announced)", current[:12])
            return (self.ledger.record(decision.kind, last_sha, current, None, (), now),)
        base, head = decision.listed
        if comparison is None or decision.listed != (last_sha, current):
            comparison = self.history.compare(base, head)
        line = comparison.first_parent_line(
            next((c.sha for c in comparison.commits if same_commit(c.sha, head)), head)
        )
        heading = self.rel.risk_heading if self.rel.risk_in_released else ""
        prs = released_prs(comparison.commits, self.history.pulls_of(line), heading)
        text = self.text.render_released(Move(decision.kind), decision.previous or "", current, prs)
        channels = [h.channel for h in self.hooks] + self._comments(prs)
        notice = self.ledger.record(decision.kind, last_sha, current, text, channels, now)
        moved = f"production {decision.kind}: {(last_sha or '')[:12]} -> {current[:12]}, {len(prs)} PRs"
        self.store.events.add(now, f"production_{decision.kind}", moved)
        return (notice,)

    def _comments(self, prs: tuple[ReleasedPR, ...]) -> list[str]:
        """The preview comments to tell (PRs pullrekun deployed), as send channels."""
        if not (self.rel.comment_released and self.cfg.report.comment):
            return []
        return [f"{PR_CHANNEL}{pr.number}" for pr in prs if self.store.journal.deployments(pr.number)]

    def _pending_requests(self, production: str) -> tuple[int, ...]:
        """Render the waiting-for-release notices asked for, and the schedule's, if one is due."""
        asked = self.ledger.unrendered()
        times = [parse_posting_time(s) for s in self.rel.pending_schedule]
        due = due_posting(times, self.ledger.last_scheduled(), self.clock()) if times else None
        if not asked and due is None:
            return ()
        text = self.waiting_text(production)
        channels = [h.channel for h in self.hooks]
        now = self.clock()
        for notice in asked:
            self.ledger.fill(notice.id, text, channels, now)
        ids = tuple(n.id for n in asked)
        if due is not None:
            ids += (
                self.ledger.record(
                    "pending", None, production, text, channels, now, actor="schedule", slot=due
                ),
            )
        return ids

    def _draft(self, production: str) -> str:
        """Keep the draft release's body the waiting notes; returns a problem, or "". Asked only
        when production or the base branch moved (the branch head is read with its ETag); a
        refusal (the token may not write releases) is said once per move, not every pass."""
        try:
            head = self.history.branch_head(self.rel.base_branch)
            facts = self.store.release_facts.read()
            key = f"{production}...{head}"
            if facts.get(DRAFT_KEY) == key:
                return ""
            prs = self.waiting(production)
            body = self.renderer.markdown(
                "draft-release.md.j2",
                production=production,
                base=self.rel.base_branch,
                prs=prs,
                links=self.text.links(prs),
            )
            known = facts.get(DRAFT_ID)
            draft = self.writer.put_draft_release(
                int(known) if known else None,
                self.rel.draft_name,
                self.rel.draft_tag,
                self.rel.base_branch,
                body,
            )
        except GitHubRefused as exc:
            message = f"the draft release is not kept (GitHub refused: {exc})"
            self.store.events.add(self.clock(), "draft_release_refused", message)
            self.store.release_facts.write({DRAFT_KEY: key}, self.clock())
            return message
        except (ProductionUnreadable, GitHubUnavailable) as exc:
            return f"the draft release is not updated (tried again next pass): {exc}"
        self.store.release_facts.write({DRAFT_KEY: key, DRAFT_ID: str(draft)}, self.clock())
        return ""

    # --- what is waiting -------------------------------------------------------------

    def waiting(self, production: str) -> tuple[ReleasedPR, ...]:
        """Merged PRs on ``base_branch`` that production does not run, with their risk notes."""
        comparison = self.history.compare(production, self.rel.base_branch)
        if not comparison.commits:
            return ()
        line = comparison.first_parent_line(comparison.commits[-1].sha)
        return released_prs(comparison.commits, self.history.pulls_of(line), self.rel.risk_heading)

    def waiting_text(self, production: str) -> str:
        """The waiting-for-release notice as it reads now."""
        return self.text.render_pending(production, self.waiting(production))

    def post_pending(self, actor: str) -> tuple[int, str]:
        """Record a waiting-for-release notice now and send it (the CLI's ``--post``)."""
        production = self.production()
        text = self.waiting_text(production)
        notice = self.ledger.record(
            "pending", None, production, text, [h.channel for h in self.hooks], self.clock(), actor=actor
        )
        self.outbox.send_unsent()
        return notice, text
