"""The release notices' outbox: every pending send of the ledger goes out once.

A send is marked ``sending`` before its request goes out and ``sent`` after it came back. A send
that surely failed (refused, an error answer) stays pending for the next pass; one whose answer
never came is sent again only to Google Chat (its message id makes the repeat harmless), and on
Slack is marked ``unknown``: never repeated, said in ``status``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from pullrekun.adapters.chat import NotifyFailed, Webhook
from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.adapters.github.publish import GitHubRefused, GitHubWriter
from pullrekun.adapters.state.events import Events
from pullrekun.adapters.state.notices import (
    PENDING,
    PR_CHANNEL,
    REFUSED,
    SENDING,
    SENT,
    UNKNOWN,
    Notice,
    NoticeLedger,
)
from pullrekun.app import crashpoint
from pullrekun.app.render import Renderer
from pullrekun.app.reporting.comment import closed_comment

log = logging.getLogger(__name__)
#: Sends to GitHub (PR comments) stop together when GitHub fails, like a dead webhook.
GITHUB = "github"


class NoticeOutbox:
    def __init__(
        self,
        ledger: NoticeLedger,
        hooks: Sequence[Webhook],
        writer: GitHubWriter,
        renderer: Renderer,
        events: Events,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.ledger = ledger
        self.hooks = tuple(hooks)
        self.writer = writer
        self.renderer = renderer
        self.events = events
        self.clock = clock

    def send_unsent(self) -> tuple[int, str]:
        """Send every pending send; returns (how many went out, the first problem or "")."""
        hooks = {h.channel: h for h in self.hooks}
        dead: set[str] = set()
        sent, problem = 0, ""
        for notice, send in self.ledger.unsent():
            if send.channel.startswith(PR_CHANNEL):
                if GITHUB not in dead:
                    done, failure = self._comment(notice, int(send.channel.removeprefix(PR_CHANNEL)))
                    sent += done
                    if failure:
                        dead.add(GITHUB)
                        problem = problem or failure
                continue
            hook = hooks.get(send.channel)
            if hook is None or send.channel in dead or notice.text is None:
                continue  # a channel no longer configured keeps its send for when it is again
            if send.state == SENDING and not hook.idempotent:
                self._unknown(notice, send.channel)
                continue
            ok, failure = self._send(notice, hook)
            if ok:
                sent += 1
            elif failure:
                dead.add(send.channel)
                problem = problem or failure
        return sent, problem

    def _send(self, notice: Notice, hook: Webhook) -> tuple[bool, str]:
        self.ledger.mark(notice.id, hook.channel, SENDING, self.clock())
        crashpoint.reached("notice-sending")
        try:
            hook.post(notice.text or "", message_id=f"notice-{notice.id}-{(notice.sha or '')[:12]}")
        except NotifyFailed as exc:
            if exc.maybe_delivered and not hook.idempotent:
                self._unknown(notice, hook.channel, str(exc))
                return False, str(exc)
            self.ledger.mark(notice.id, hook.channel, PENDING, self.clock(), str(exc))
            log.warning(
                "release notice %s not sent to %s (retried next pass): %s", notice.id, hook.channel, exc
            )
            return False, str(exc)
        crashpoint.reached("notice-sent")
        self.ledger.mark(notice.id, hook.channel, SENT, self.clock())
        return True, ""

    def _comment(self, notice: Notice, number: int) -> tuple[bool, str]:
        """Say the release (or rollback) in PR ``number``'s preview comment. An edit to the same
        text changes nothing, so a send a pass died in is simply made again."""
        channel = f"{PR_CHANNEL}{number}"
        self.ledger.mark(notice.id, channel, SENDING, self.clock())
        try:
            comment_id = self.writer.find_comment(number)
            if comment_id is not None:
                self.writer.edit_comment(comment_id, closed_comment(self.renderer, number, notice))
        except GitHubRefused as exc:
            self.ledger.mark(notice.id, channel, REFUSED, self.clock(), str(exc))
            self.events.add(self.clock(), "report_refused", str(exc), pr_number=number)
            return False, ""
        except GitHubUnavailable as exc:
            self.ledger.mark(notice.id, channel, PENDING, self.clock(), str(exc))
            return False, f"PR #{number}'s comment not updated (retried next pass): {exc}"
        self.ledger.mark(notice.id, channel, SENT, self.clock())
        return True, ""

    def _unknown(self, notice: Notice, channel: str, why: str = "") -> None:
        message = (
            f"release notice {notice.id} may not have reached {channel}: "
            + (why or "a pass stopped while sending it")
            + "; not sent again (it may have arrived); "
            + f"`pullrekun release-notes --resend {notice.id}` sends it"
        )
        self.ledger.mark(notice.id, channel, UNKNOWN, self.clock(), message)
        self.events.add(self.clock(), "notice_unknown", message)
        log.warning("%s", message)
