"""GitHub webhook deliveries: is it GitHub's, and is it news about our repository?

Pure functions (no I/O): the server reads the request and acts on the verdict. A delivery is
a *trigger*, never a source of truth: the pass it causes reads GitHub again, so nothing in a
payload (a sha, a label, a state) is ever believed; the payload only says whether the news
concerns the configured repository.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_SIGNATURE_RE = re.compile(r"\Asha256=([0-9a-f]{64})\Z")
_DELIVERY_RE = re.compile(r"\A[0-9A-Za-z-]{1,64}\Z")
_EVENT_RE = re.compile(r"\A[a-z_]{1,64}\Z")

#: pull_request actions that can change which environment should run what.
PULL_REQUEST_ACTIONS = frozenset(
    {
        "opened",
        "reopened",
        "synchronize",
        "closed",
        "labeled",
        "unlabeled",
        "ready_for_review",
        "converted_to_draft",
        "edited",
    }
)
#: Events that may change what a pass decides (installation ones: the App's access changed).
TRIGGERING_EVENTS = frozenset(
    {"pull_request", "push", "installation", "installation_repositories", "pull_request_review"}
)


def sign(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is GitHub's HMAC-SHA256 of ``body`` with ``secret`` (constant-time)."""
    if not secret or not header:
        return False
    match = _SIGNATURE_RE.match(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1))


class BadDelivery(ValueError):
    """A delivery that is signed but not one GitHub would send (HTTP 400)."""


@dataclass(frozen=True)
class Verdict:
    #: Start a pass for it.
    trigger: bool
    #: One line for the log and the answer to GitHub.
    reason: str


def check_headers(event: str | None, delivery: str | None) -> tuple[str, str]:
    if not event or not _EVENT_RE.match(event):
        raise BadDelivery(f"missing or malformed {EVENT_HEADER} header")
    if not delivery or not _DELIVERY_RE.match(delivery):
        raise BadDelivery(f"missing or malformed {DELIVERY_HEADER} header")
    return event, delivery


def judge(event: str, body: bytes, repository: str, production_environment: str | None = None) -> Verdict:
    """What a signed delivery of ``event`` means for ``repository`` ("owner/name").

    ``production_environment``: production is where GitHub deployments to this environment are
    (release notices): a successful ``deployment_status`` there moves it. Others (pullrekun's own
    preview deployments among them) change nothing."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadDelivery(f"the body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadDelivery("the body is not a JSON object")
    if event == "ping":
        return Verdict(False, "ping")
    if event == "deployment_status" and production_environment:
        deployment = payload.get("deployment")
        environment = deployment.get("environment") if isinstance(deployment, dict) else None
        status = payload.get("deployment_status")
        state = status.get("state") if isinstance(status, dict) else None
        repo = payload.get("repository")
        name = repo.get("full_name") if isinstance(repo, dict) else None
        if not isinstance(name, str) or name.lower() != repository.lower():
            return Verdict(False, "deployment_status for another repository")
        if environment == production_environment and state == "success":
            return Verdict(True, f"deployment_status.success to {production_environment}")
        return Verdict(False, "a deployment_status that does not move production")
    if event not in TRIGGERING_EVENTS:
        return Verdict(False, f"{event} events do not change environments")
    if event.startswith("installation"):
        return Verdict(True, f"{event}.{payload.get('action', '?')}")
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    if not isinstance(name, str) or name.lower() != repository.lower():
        return Verdict(False, f"{event} for another repository")
    action = payload.get("action")
    if event in ("pull_request", "pull_request_review"):
        if event == "pull_request" and action not in PULL_REQUEST_ACTIONS:
            return Verdict(False, f"pull_request.{action} does not change environments")
        changes = payload.get("changes")
        if action == "edited" and not (isinstance(changes, dict) and "base" in changes):
            # A new title or body changes nothing a pass decides; a new base branch may (trust).
            return Verdict(False, "pull_request.edited without a base change")
        number = payload.get("number") or (payload.get("pull_request") or {}).get("number")
        return Verdict(True, f"{event}.{action} #{number}")
    return Verdict(True, event)
