"""Chat notifications through Slack and Google Chat incoming webhooks (each optional).

Both take ``POST {"text": ...}`` with a JSON body. The webhook URLs are secrets: the
config names the environment variables that hold them. A failed post raises
:class:`NotifyFailed`; the report keeps the notification pending for the next pass.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from pullrekun.config import ReportConfig

log = logging.getLogger(__name__)


class NotifyFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Webhook:
    #: The report channel this webhook's notifications are tracked under.
    channel: str
    url: str
    timeout: int

    def post(self, text: str) -> None:
        data = json.dumps({"text": text}).encode()
        req = urllib.request.Request(  # noqa: S310 - webhooks() keeps only http(s) URLs
            self.url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - see above
                resp.read()
        except (urllib.error.URLError, OSError) as exc:
            raise NotifyFailed(f"{self.channel} webhook: {exc}") from exc


def webhooks(cfg: ReportConfig) -> tuple[Webhook, ...]:
    """The configured webhooks whose environment variable holds an http(s) URL."""
    found = []
    for channel, env_name in (("slack", cfg.slack_webhook_env), ("google_chat", cfg.google_chat_webhook_env)):
        url = os.environ.get(env_name, "") if env_name else ""
        if url.startswith(("https://", "http://")):
            found.append(Webhook(channel, url, cfg.notify_timeout))
        elif url:
            log.warning("$%s does not hold an http(s) URL; %s notifications are off", env_name, channel)
    return tuple(found)
