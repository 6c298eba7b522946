"""Chat notifications through Slack and Google Chat incoming webhooks (each optional).

Both take ``POST {"text": ...}`` with a JSON body. The webhook URLs are secrets: the
config names the environment variables that hold them. A failed post raises
:class:`NotifyFailed`, which says whether the message may have arrived all the same (an answer
that never came) or surely did not (refused connection, an error status).

Google Chat takes a ``messageId`` of the sender's choosing and refuses a second message with the
same one (409, ``ALREADY_EXISTS``): a post with ``message_id`` can be repeated safely, and that
409 means it arrived the first time. Slack's incoming webhooks have no such key.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from pullrekun.config import ReportConfig
from pullrekun.config.secrets import secret

log = logging.getLogger(__name__)

SLACK, GOOGLE_CHAT = "slack", "google_chat"


class NotifyFailed(RuntimeError):
    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        #: The request went out and no answer came back: the message may have arrived.
        self.maybe_delivered = maybe_delivered


@dataclass(frozen=True)
class Webhook:
    #: The report channel this webhook's notifications are tracked under.
    channel: str
    url: str
    timeout: int

    @property
    def idempotent(self) -> bool:
        """Whether a post with a message id may be repeated without a second message."""
        return self.channel == GOOGLE_CHAT

    def post(self, text: str, message_id: str | None = None) -> None:
        """Post ``text``; ``message_id`` (letters, digits, "-") makes Google Chat's post repeatable."""
        url = self.url
        if message_id and self.idempotent:
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(
                {"messageId": f"client-{message_id}"}
            )
        data = json.dumps({"text": text}).encode()
        req = urllib.request.Request(  # noqa: S310 - webhooks() keeps only http(s) URLs
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - see above
                resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 409 and message_id and self.idempotent:
                log.info("%s already has message %s: it arrived before", self.channel, message_id)
                return
            raise NotifyFailed(f"{self.channel} webhook: answered {exc.code} {exc.reason}") from exc
        except TimeoutError as exc:
            raise NotifyFailed(f"{self.channel} webhook: no answer ({exc})", maybe_delivered=True) from exc
        except urllib.error.URLError as exc:
            unanswered = isinstance(exc.reason, (TimeoutError, ConnectionResetError))
            raise NotifyFailed(f"{self.channel} webhook: {exc.reason}", maybe_delivered=unanswered) from exc
        except OSError as exc:
            raise NotifyFailed(f"{self.channel} webhook: {exc}", maybe_delivered=True) from exc


def webhooks_from(env_names: Iterable[tuple[str, str]], timeout: int) -> tuple[Webhook, ...]:
    """(channel, variable) pairs -> the webhooks whose variable holds an http(s) URL."""
    found = []
    for channel, env_name in env_names:
        url = secret(env_name) if env_name else ""
        if url.startswith(("https://", "http://")):
            found.append(Webhook(channel, url, timeout))
        elif url:
            log.warning("$%s does not hold an http(s) URL; %s notifications are off", env_name, channel)
    return tuple(found)


def webhooks(cfg: ReportConfig) -> tuple[Webhook, ...]:
    """The configured webhooks whose environment variable holds an http(s) URL."""
    pairs = ((SLACK, cfg.slack_webhook_env), (GOOGLE_CHAT, cfg.google_chat_webhook_env))
    return webhooks_from(pairs, cfg.notify_timeout)
