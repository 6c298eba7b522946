"""What GitHub says about the repository's history: where production is, what a release brought.

Production's sha, read every pass, is asked with the ETag of the last answer: a production that
did not move costs 304s, which GitHub does not count. From a branch (``git/ref/heads/...``), the
highest version among tags matching a pattern (``git/matching-refs/tags/...``, an annotated tag
followed to its commit), or the newest GitHub deployment to an environment whose latest status is
``success`` (``deployments`` newest first, then each one's newest status).

A release is read with ``compare`` (paged, 100 commits a page, oldest first) and, for each commit
on the first-parent line of the new sha, the pull requests GitHub associates with it
(``commits/{sha}/pulls``): a merge commit, a squashed commit and every rebased commit each name
their PR; the commits a merge commit brought in from a branch are not asked about (the merge
commit names their PR).
"""

from __future__ import annotations

import fnmatch
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pullrekun.adapters.github.client import GitHubClient, GitHubUnavailable, next_link
from pullrekun.adapters.github.pulls import PullRequestSource
from pullrekun.config import ReleaseConfig
from pullrekun.core.releases import Commit, PullInfo

SHA_RE = re.compile(r"\A[0-9a-f]{40}\Z")
#: Deployments looked at (newest first) for one with a successful latest status.
DEPLOYMENTS_LOOKED_AT = 10


class ProductionUnreadable(RuntimeError):
    """Production's sha could not be read; nothing is concluded (no release, no rollback)."""


@dataclass(frozen=True)
class Comparison:
    #: GitHub's status of ``base...head``: ahead, behind, identical or diverged.
    status: str
    #: The commits ``head`` has and ``base`` does not, oldest first.
    commits: tuple[Commit, ...]
    #: sha -> its parents' shas, for the commits above.
    parents: dict[str, tuple[str, ...]]

    def first_parent_line(self, head: str) -> tuple[str, ...]:
        """The commits of this comparison on ``head``'s first-parent line, oldest first."""
        line, cur = [], head
        while cur in self.parents:
            line.append(cur)
            parents = self.parents[cur]
            if not parents:
                break
            cur = parents[0]
        return tuple(reversed(line))


def _version_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a tag name by version: v1.10.0 after v1.9.2, digits as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", name))


class HistoryReader:
    def __init__(self, client: GitHubClient, source: PullRequestSource) -> None:
        self._client = client
        self._source = source  # its conditional GETs (ETag cache in the state DB)
        self._repo = f"/repos/{client.repository}"

    # --- production --------------------------------------------------------------------

    def production_sha(self, cfg: ReleaseConfig) -> str:
        """The sha production runs, by the configured GitHub source (not "url"); raises
        ProductionUnreadable or GitHubUnavailable."""
        if cfg.source == "branch":
            return self.branch_head(cfg.branch)
        if cfg.source == "tag":
            return self._newest_tag(cfg.tag_pattern)
        if cfg.source == "deployment":
            return self._deployed(cfg.environment)
        raise ProductionUnreadable(f"release.source {cfg.source!r} is not read from GitHub")

    def branch_head(self, branch: str) -> str:
        """The sha at the head of ``branch`` (asked with the last answer's ETag)."""
        ref = self._object(f"{self._repo}/git/ref/heads/{urllib.parse.quote(branch)}")
        return self._commit_of(ref, f"branch {branch}")

    def _object(self, url: str) -> Any:
        status, data = self._source.get_object(url)
        if status == 404:
            raise ProductionUnreadable(f"GitHub has no {url.removeprefix(self._repo + '/')}")
        if status != 200:
            raise GitHubUnavailable(f"GET {url} answered {status}")
        return data

    def _commit_of(self, ref: Any, what: str) -> str:
        obj = ref.get("object") if isinstance(ref, dict) else None
        for _ in range(3):  # a tag of a tag of a commit, at most
            if not isinstance(obj, dict) or not SHA_RE.match(str(obj.get("sha", ""))):
                raise ProductionUnreadable(f"{what}: GitHub's answer names no commit")
            if obj.get("type") == "commit":
                return str(obj["sha"])
            if obj.get("type") != "tag":
                raise ProductionUnreadable(f"{what} points at a {obj.get('type')}, not a commit")
            obj = self._object(f"{self._repo}/git/tags/{obj['sha']}").get("object")
        raise ProductionUnreadable(f"{what}: tags nested too deep")

    def _newest_tag(self, pattern: str) -> str:
        prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        refs = self._object(f"{self._repo}/git/matching-refs/tags/{urllib.parse.quote(prefix)}")
        named = {
            str(r["ref"]).removeprefix("refs/tags/"): r
            for r in refs if isinstance(r, dict) and str(r.get("ref", "")).startswith("refs/tags/")
        }  # fmt: skip
        matching = sorted((n for n in named if fnmatch.fnmatchcase(n, pattern)), key=_version_key)
        if not matching:
            raise ProductionUnreadable(f"no tag matches {pattern!r}")
        return self._commit_of(named[matching[-1]], f"tag {matching[-1]}")

    def _deployed(self, environment: str) -> str:
        query = urllib.parse.urlencode({"environment": environment, "per_page": DEPLOYMENTS_LOOKED_AT})
        deployments, _ = self._source.get_page(f"{self._repo}/deployments?{query}")
        for dep in deployments:
            url = f"{self._repo}/deployments/{int(dep['id'])}/statuses?per_page=1"
            statuses, _ = self._source.get_page(url)
            if statuses and statuses[0].get("state") == "success":
                sha = str(dep.get("sha", ""))
                if not SHA_RE.match(sha):
                    raise ProductionUnreadable(f"deployment {dep['id']} names no commit sha")
                return sha
        raise ProductionUnreadable(
            f"none of the last {DEPLOYMENTS_LOOKED_AT} deployments to {environment!r} is successful"
        )

    # --- releases ----------------------------------------------------------------------

    def compare(self, base: str, head: str) -> Comparison:
        """``base...head``; raises ProductionUnreadable when GitHub knows neither (404)."""
        url: str | None = f"{self._repo}/compare/{base}...{head}?per_page=100"
        status_text, commits, parents = "", [], {}
        while url:
            status, low, data = self._client.request("GET", url)
            if status == 404:
                raise ProductionUnreadable(f"GitHub cannot compare {base[:12]}...{head[:12]} (a sha unknown)")
            if status != 200 or not isinstance(data, dict):
                raise GitHubUnavailable(f"GET {url} answered {status}")
            status_text = str(data.get("status", ""))
            for item in data.get("commits") or []:
                sha = str(item["sha"])
                commits.append(Commit(sha, str(item["commit"]["message"])))
                parents[sha] = tuple(str(p["sha"]) for p in item.get("parents") or [])
            url = next_link(low.get("link", ""))
        return Comparison(status_text, tuple(commits), parents)

    def pulls_of(self, shas: Sequence[str]) -> dict[str, tuple[PullInfo, ...]]:
        """Each commit's associated pull requests (merged or not: the caller judges)."""
        found: dict[str, tuple[PullInfo, ...]] = {}
        for sha in shas:
            url = f"{self._repo}/commits/{sha}/pulls?per_page=100"
            status, _, data = self._client.request("GET", url)
            if status in (404, 422):  # a commit GitHub no longer has: it brought no PR we can name
                found[sha] = ()
                continue
            if status != 200 or not isinstance(data, list):
                raise GitHubUnavailable(f"GET {url} answered {status}")
            found[sha] = tuple(
                PullInfo(
                    int(p["number"]),
                    str(p.get("title") or ""),
                    str((p.get("user") or {}).get("login") or ""),
                    str(p.get("body") or ""),
                    merged=bool(p.get("merged_at")),
                )
                for p in data
            )
        return found
