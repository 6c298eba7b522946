"""Who approved a fork PR, and when: label events, reviews and collaborator permissions.

Read for fork PRs only (their code waits for a maintainer), every list with its ETag, so a
pass that finds nothing new spends no rate limit. What the evidence means is decided in
:mod:`pullrekun.core.trust`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.adapters.github.pulls import PullRequestSource
from pullrekun.core.model import ApprovalEvidence, PullRequest

log = logging.getLogger(__name__)

#: Collaborator permissions that may approve (``maintain`` answers as ``write``).
WRITERS = frozenset({"admin", "write"})


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class ApprovalReader:
    def __init__(self, source: PullRequestSource) -> None:
        self._source = source
        self._repo = f"/repos/{source.repository}"
        self._writers: dict[str, bool] = {}

    def _all(self, url: str) -> list[Any]:
        items: list[Any] = []
        pages = 0
        next_url: str | None = url
        while next_url and pages < 30:
            page, next_url = self._source.get_page(next_url)
            items += page
            pages += 1
        return items

    def is_writer(self, login: str) -> bool:
        """Whether ``login`` may write to the repository (asked once per pass and person)."""
        key = login.lower()
        if key not in self._writers:
            url = f"{self._repo}/collaborators/{quote(login, safe='')}/permission"
            status, data = self._source.get_object(url)
            if status == 404:
                self._writers[key] = False
            elif status != 200 or not isinstance(data, dict):
                raise GitHubUnavailable(f"GET {url} answered {status}")
            else:
                self._writers[key] = str(data.get("permission")) in WRITERS
        return self._writers[key]

    def evidence(self, pr: PullRequest, label: str, head_seen_at: dt.datetime) -> ApprovalEvidence:
        reviewed = set()
        for review in self._all(f"{self._repo}/pulls/{pr.number}/reviews?per_page=100"):
            who = str((review.get("user") or {}).get("login") or "")
            if (
                review.get("state") == "APPROVED"
                and who
                and who.lower() != pr.author.lower()
                and self.is_writer(who)
            ):
                reviewed.add(str(review.get("commit_id") or ""))
        label_by, label_at, writer = None, None, False
        if label in pr.labels:
            for event in self._all(f"{self._repo}/issues/{pr.number}/events?per_page=100"):
                if event.get("event") == "labeled" and (event.get("label") or {}).get("name") == label:
                    label_by = str((event.get("actor") or {}).get("login") or "") or None
                    label_at = _time(str(event["created_at"]))
            writer = label_by is not None and self.is_writer(label_by)
        return ApprovalEvidence(
            label_by=label_by,
            label_at=label_at,
            label_by_writer=writer,
            head_seen_at=head_seen_at,
            reviewed_commits=frozenset(reviewed),
        )
