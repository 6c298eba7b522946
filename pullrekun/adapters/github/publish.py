"""The GitHub writes of a report: commit statuses, check runs, deployments, the PR comment, labels.

Each method is one REST call (two for a deployment: create, then its status) through
:class:`~pullrekun.adapters.github.client.GitHubClient`. A refusal that GitHub documents
(404 for a deleted comment, a label already gone) is answered here; anything else
raises :class:`GitHubUnavailable` naming the call and GitHub's message, and the
caller leaves the report for the next pass.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, next_link

#: GitHub refuses commit status and deployment status descriptions longer than this (422).
DESCRIPTION_MAX = 140

#: The first line of pullrekun's PR comment: how a pass finds its own comment again.
COMMENT_MARKER = "<!-- pullrekun:environment -->"


class GitHubRefused(GitHubUnavailable):
    """GitHub answered a write with a 4xx: this one report is refused, others may go."""


def _failure(method: str, path: str, status: int, data: Any) -> GitHubUnavailable:
    message = data.get("message", "") if isinstance(data, dict) else ""
    errors = data.get("errors", "") if isinstance(data, dict) else ""
    text = f"{method} {path} answered {status}: {message} {errors}".strip()
    return GitHubRefused(text) if 400 <= status < 500 else GitHubUnavailable(text)


def cap(text: str, limit: int = DESCRIPTION_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GitHubWriter:
    def __init__(self, client: GitHubClient) -> None:
        self._client = client
        self._repo = f"/repos/{client.repository}"
        self._identity: str | None = None

    def _call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        status, _, data = self._client.request(method, path, body=body)
        if status not in ok:
            raise _failure(method, path, status, data)
        return data

    # --- commit status (token auth) --------------------------------------------------

    def commit_status(
        self, sha: str, state: str, description: str, target_url: str | None, context: str
    ) -> None:
        body: dict[str, Any] = {"state": state, "description": cap(description), "context": context}
        if target_url:
            body["target_url"] = target_url
        self._call("POST", f"{self._repo}/statuses/{sha}", body)

    # --- check runs (App auth) -------------------------------------------------------

    def create_check_run(self, body: dict[str, Any]) -> int:
        data = self._call("POST", f"{self._repo}/check-runs", body)
        return int(data["id"])

    def update_check_run(self, run_id: int, body: dict[str, Any]) -> None:
        self._call("PATCH", f"{self._repo}/check-runs/{run_id}", body)

    # --- deployments -----------------------------------------------------------------

    def create_deployment(self, sha: str, environment: str, description: str) -> int:
        body = {
            "ref": sha,
            "task": "deploy",
            "auto_merge": False,
            # No required contexts: our own pending status must not block the deployment (409).
            "required_contexts": [],
            "environment": environment,
            "description": cap(description),
            "transient_environment": True,
            "production_environment": False,
        }
        data = self._call("POST", f"{self._repo}/deployments", body, ok=(201,))
        return int(data["id"])

    def deployment_status(
        self, deployment_id: int, state: str, description: str, environment_url: str | None
    ) -> None:
        body: dict[str, Any] = {"state": state, "description": cap(description), "auto_inactive": True}
        if environment_url:
            body["environment_url"] = environment_url
        self._call("POST", f"{self._repo}/deployments/{deployment_id}/statuses", body, ok=(201,))

    # --- the PR comment --------------------------------------------------------------

    def find_comment(self, pr_number: int) -> int | None:
        """The id of the PR's comment that starts with pullrekun's marker (oldest first), if any."""
        url: str | None = f"{self._repo}/issues/{pr_number}/comments?per_page=100"
        pages = 0
        while url and pages < 30:
            status, headers, data = self._client.request("GET", url)
            if status != 200 or not isinstance(data, list):
                raise GitHubUnavailable(f"GET {url} answered {status}")
            for comment in data:
                # Ours starts with the marker (a reply quoting it, "> <!-- ...", does not) and was
                # written by pullrekun's own identity: an outsider's marker comment is not adopted.
                if (comment.get("body") or "").startswith(COMMENT_MARKER) and self._ours(comment):
                    return int(comment["id"])
            url = next_link(headers.get("link", ""))
            pages += 1
        return None

    def _ours(self, comment: dict[str, Any]) -> bool:
        cfg = self._client.cfg
        if cfg.app:  # an App's comments name the App they came through
            return (comment.get("performed_via_github_app") or {}).get("id") == cfg.app_id
        login = str((comment.get("user") or {}).get("login") or "")
        return login.lower() == self._login().lower()

    def _login(self) -> str:
        """The token's owner (asked once per pass, and only when a comment has to be found)."""
        if self._identity is None:
            status, _, data = self._client.request("GET", "/user")
            if status != 200 or not isinstance(data, dict) or not data.get("login"):
                raise GitHubUnavailable(
                    f"GET /user answered {status}: cannot tell pullrekun's comments apart"
                )
            self._identity = str(data["login"])
        return self._identity

    def create_comment(self, pr_number: int, body: str) -> int:
        data = self._call("POST", f"{self._repo}/issues/{pr_number}/comments", {"body": body}, ok=(201,))
        return int(data["id"])

    def edit_comment(self, comment_id: int, body: str) -> bool:
        """False when the comment is gone (deleted by someone): the caller posts a new one."""
        status, _, data = self._client.request(
            "PATCH", f"{self._repo}/issues/comments/{comment_id}", body={"body": body}
        )
        if status == 404:
            return False
        if status != 200:
            raise _failure("PATCH", f"comment {comment_id}", status, data)
        return True

    # --- labels ----------------------------------------------------------------------

    def remove_label(self, pr_number: int, label: str) -> None:
        path = f"{self._repo}/issues/{pr_number}/labels/{urllib.parse.quote(label, safe='')}"
        self._call("DELETE", path, ok=(200, 404))  # 404: already removed

    # --- the draft release (release notices) -------------------------------------------

    def put_draft_release(self, known_id: int | None, name: str, tag: str, target: str, body: str) -> int:
        """Make the draft release named ``name`` say ``body``; returns its id. A release someone
        published meanwhile is left alone and a new draft is started; so is one deleted."""
        release_id: int | None = None
        current: dict[str, Any] | None = None
        if known_id is not None:
            status, _, data = self._client.request("GET", f"{self._repo}/releases/{known_id}")
            if status == 200 and isinstance(data, dict) and data.get("draft"):
                release_id, current = known_id, data
            elif status not in (200, 404):
                raise _failure("GET", f"release {known_id}", status, data)
        if release_id is None:
            listed = self._call("GET", f"{self._repo}/releases?per_page=100", ok=(200,))
            found = [r for r in listed or [] if r.get("draft") and r.get("name") == name]
            if found:
                release_id, current = int(found[0]["id"]), found[0]
        if release_id is None:
            fields = {"tag_name": tag, "name": name, "body": body, "draft": True, "target_commitish": target}
            return int(self._call("POST", f"{self._repo}/releases", fields, ok=(201,))["id"])
        if current is None or current.get("body") != body:
            self._call("PATCH", f"{self._repo}/releases/{release_id}", {"body": body}, ok=(200,))
        return release_id
