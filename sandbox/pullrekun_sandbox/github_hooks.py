"""The GitHub simulator's webhooks: signed deliveries, as GitHub sends them, when its PRs change."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class WebhookSender:
    """POSTs each event to ``url`` with X-GitHub-Event, X-GitHub-Delivery and X-Hub-Signature-256."""

    url: str
    secret: str
    #: (event, action, HTTP status) of every delivery, oldest first.
    delivered: list[tuple[str, str, int]] = field(default_factory=list)

    def deliver(self, event: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/sandbox",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0  # nobody listens: GitHub records a failed delivery and moves on
        self.delivered.append((event, str(payload.get("action", "")), status))
        return status


def pull_request_payload(repository: str, action: str, pr: Any, sender: str) -> dict[str, Any]:
    """The parts of a ``pull_request`` event pullrekun looks at (the pass reads the rest from the API)."""
    return {
        "action": action,
        "number": pr.number,
        "pull_request": {
            "number": pr.number,
            "state": pr.state,
            "draft": pr.draft,
            "title": pr.title,
            "head": {"sha": pr.head_sha, "ref": pr.head_ref},
            "base": {"ref": pr.base_ref},
            "user": {"login": pr.author},
        },
        "repository": {"full_name": repository},
        "sender": {"login": sender},
    }
