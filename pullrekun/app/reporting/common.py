"""What every reporting channel shares: the fingerprint of what was sent, and where it is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pullrekun.adapters.github.publish import GitHubWriter
from pullrekun.adapters.state.reports import Reported
from pullrekun.adapters.state.store import Store
from pullrekun.app import crashpoint
from pullrekun.app.render import Renderer
from pullrekun.config import Config
from pullrekun.core.views import Phase

#: Channel names in the state DB (``reports.channel``); chat channels are named by their webhook.
STATUS, DEPLOYMENT, COMMENT = "status", "deployment", "comment"
INACTIVE = "inactive"

HEADLINES = {
    Phase.QUEUED: ("⏳", "queued"),
    Phase.SKIPPED: ("⚪", "none for this PR"),
    Phase.DEPLOYING: ("🚀", "deploying"),
    Phase.READY: ("✅", "ready"),
    Phase.FAILED: ("❌", "failed"),
    Phase.ASLEEP: ("💤", "sleeping"),
}


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Outbox:
    """The pass's means to send and to remember what was sent, shared by the channels."""

    cfg: Config
    writer: GitHubWriter
    store: Store
    renderer: Renderer
    clock: Callable[[], dt.datetime]
    #: True on the pass's last report (after the outcomes): the crash tests may kill there.
    final: bool = False

    def save(self, number: int, channel: str, fp: str, sha: str | None, github_id: int | None) -> None:
        self.store.reports.save(Reported(number, channel, fp, sha, github_id), self.clock())
        if self.final:
            crashpoint.reached("report")
