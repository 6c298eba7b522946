"""Sign-off on a preview: someone tried the PR's head on its environment and says it works, or
found a problem. Published as a second status (``verify.context``, "pullrekun/verified") that
branch protection can require; pullrekun never sets it to success by itself. Pure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The longest note a "problem found" may carry.
NOTE_LIMIT = 300


@dataclass(frozen=True)
class SignOff:
    """One sign-off, as recorded: the commit the environment served when it was given."""

    pr_number: int
    sha: str
    ok: bool
    note: str
    actor: str
    at: dt.datetime

    @property
    def who(self) -> str:
        """ "@alice" for a GitHub login, the account's name otherwise."""
        kind, _, name = self.actor.partition(":")
        return f"@{name}" if kind == "github" else name or self.actor


def verified_status(latest: SignOff | None, head_sha: str) -> tuple[str, str]:
    """(state, description) of the sign-off status on ``head_sha``: success or failure only for a
    sign-off given at that very commit; pending otherwise."""
    if latest is None or latest.sha != head_sha:
        return "pending", f"Not yet verified at {head_sha[:7]}"
    if latest.ok:
        return "success", f"Verified by {latest.who} on the preview"
    return "failure", f"Problem found by {latest.who}: {latest.note}"


def note_problem(note: str) -> str | None:
    """Why a problem note is refused (None: fine)."""
    text = note.strip()
    if not text:
        return "say what the problem is (a note of one line)"
    if len(text) > NOTE_LIMIT or "\n" in text or "\r" in text:
        return f"the note must be one line of at most {NOTE_LIMIT} characters"
    return None
