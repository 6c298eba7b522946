"""The simulator's GitHub Releases: list (newest first, paged), get, create, edit, and what a
person does in the UI (publish a draft). A mixin of
:class:`pullrekun_sandbox.github_sim.GitHubSimulator`; payloads checked against GitHub's OpenAPI.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from typing import Any

from pullrekun_sandbox import github_payloads as P


class ReleaseEndpoints:
    repository: str
    releases: dict[int, dict[str, Any]]
    _ids: itertools.count[int]
    _lock: threading.RLock

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _tick(self) -> dt.datetime:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], str]:
        raise NotImplementedError

    def _release_json(
        self, rid: int, fields: dict[str, Any], author: dict[str, Any], created: dt.datetime
    ) -> dict[str, Any]:
        api = f"{self.url}/repos/{self.repository}/releases/{rid}"
        tag = str(fields["tag_name"])
        draft = bool(fields.get("draft", False))
        page = f"untagged-{rid}" if draft else f"tag/{tag}"
        return {
            "url": api,
            "html_url": f"{self.url}/{self.repository}/releases/{page}",
            "assets_url": f"{api}/assets",
            "upload_url": f"{self.url}/repos/{self.repository}/releases/{rid}/assets{{?name,label}}",
            "tarball_url": None if draft else f"{self.url}/repos/{self.repository}/tarball/{tag}",
            "zipball_url": None if draft else f"{self.url}/repos/{self.repository}/zipball/{tag}",
            "id": rid,
            "node_id": P.node_id("Release", rid),
            "tag_name": tag,
            "target_commitish": str(fields.get("target_commitish") or "main"),
            "name": fields.get("name"),
            "body": fields.get("body"),
            "draft": draft,
            "prerelease": bool(fields.get("prerelease", False)),
            "created_at": P.iso(created),
            "published_at": None if draft else P.iso(self._tick()),
            "author": author,
            "assets": [],
        }

    def publish_release(self, rid: int) -> None:
        """What a person cutting the release does: the draft becomes a published release."""
        with self._lock:
            old = self.releases[rid]
            created = dt.datetime.fromisoformat(old["created_at"].replace("Z", "+00:00"))
            self.releases[rid] = self._release_json(rid, {**old, "draft": False}, old["author"], created)

    def _release_read(self, path: str, query: dict[str, str]) -> tuple[int, Any, str, str] | None:
        base = re.escape(f"/repos/{self.repository}")
        if path == f"/repos/{self.repository}/releases":
            items = sorted(self.releases.values(), key=lambda r: r["id"], reverse=True)
            chunk, links = self._page(path, query, items)
            return 200, chunk, links, "/repos/{owner}/{repo}/releases"
        if m := re.fullmatch(rf"{base}/releases/(\d+)", path):
            found = self.releases.get(int(m.group(1)))
            if found is None:
                return 404, {"message": "Not Found"}, "", "error"
            return 200, found, "", "/repos/{owner}/{repo}/releases/{release_id}"
        return None

    def _release_write(
        self, method: str, path: str, fields: dict[str, Any], author: dict[str, Any]
    ) -> tuple[int, Any, str] | None:
        base = re.escape(f"/repos/{self.repository}")
        if method == "POST" and path == f"/repos/{self.repository}/releases":
            if not fields.get("tag_name"):
                error = {
                    **self._error(422, "Validation Failed"),
                    "errors": [{"message": "tag_name is missing"}],
                }
                return 422, error, "/repos/{owner}/{repo}/releases"
            rid = next(self._ids)
            self.releases[rid] = self._release_json(rid, fields, author, self._tick())
            return 201, self.releases[rid], "/repos/{owner}/{repo}/releases"
        if method == "PATCH" and (m := re.fullmatch(rf"{base}/releases/(\d+)", path)):
            rid = int(m.group(1))
            old = self.releases.get(rid)
            if old is None:
                return 404, self._error(404, "Not Found"), "error"
            created = dt.datetime.fromisoformat(old["created_at"].replace("Z", "+00:00"))
            merged = {
                **old,
                **{k: v for k, v in fields.items() if k in ("tag_name", "name", "body", "draft")},
            }
            self.releases[rid] = self._release_json(rid, merged, old["author"], created)
            return 200, self.releases[rid], "/repos/{owner}/{repo}/releases/{release_id}"
        return None
