"""The simulator's git history: commits on branches, merged pull requests, tags, production.

A pull request is merged the three ways GitHub offers (a merge commit, a squash, a rebase), each
commit knows the PRs that brought it (``GET .../commits/{sha}/pulls``), and ``compare`` answers
``base...head`` as GitHub does: ahead, behind, identical or diverged, the commits oldest first,
paged with ``per_page``/``page`` and a ``Link`` header (without them, the first 250 commits).
Refs (``git/ref``, ``git/matching-refs``), annotated tags (``git/tags``) and deployments to an
environment with their statuses (newest first) are read as on GitHub.

A mixin of :class:`pullrekun_sandbox.github_sim.GitHubSimulator`, which holds the lock and serves
these over HTTP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from pullrekun_sandbox import github_payloads as P
from pullrekun_sandbox.github_records import SimPR

#: ``compare`` without paging parameters lists at most this many commits (GitHub's cap).
COMPARE_UNPAGED = 250


@dataclass
class SimCommit:
    sha: str
    message: str
    parents: tuple[str, ...]
    author: str
    at: dt.datetime
    #: Its place in the history (commits are listed oldest first by it).
    index: int


@dataclass
class SimTag:
    name: str
    #: The tag object's sha for an annotated tag, else None (the ref points at the commit).
    object_sha: str | None
    commit: str
    message: str = ""


@dataclass
class History:
    commits: dict[str, SimCommit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, SimTag] = field(default_factory=dict)
    #: PR numbers each commit is associated with (merged or rebased into a branch).
    pulls_of: dict[str, list[int]] = field(default_factory=dict)


class HistoryEndpoints:
    # The simulator's state these use (set by GitHubSimulator.__init__).
    repository: str
    prs: dict[int, SimPR]
    history: History
    deployments: dict[int, dict[str, Any]]
    deployment_statuses: dict[int, list[dict[str, Any]]]
    _lock: threading.RLock
    _ids: itertools.count[int]

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _tick(self) -> dt.datetime:
        raise NotImplementedError

    def _pr_json(self, pr: SimPR) -> dict[str, Any]:
        raise NotImplementedError

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], str]:
        raise NotImplementedError

    # --- the world -----------------------------------------------------------------

    def commit(self, message: str, *, branch: str = "main", author: str = "alice") -> str:
        """A commit on top of ``branch`` (created from nothing if it does not exist yet)."""
        with self._lock:
            head = self.history.branches.get(branch)
            sha = self._new_commit(message, (head,) if head else (), author)
            self.history.branches[branch] = sha
            return sha

    def _new_commit(self, message: str, parents: tuple[str, ...], author: str) -> str:
        index = len(self.history.commits)
        sha = hashlib.sha1(f"{index}\0{message}\0{parents}".encode()).hexdigest()  # noqa: S324 - an id
        self.history.commits[sha] = SimCommit(sha, message, parents, author, self._tick(), index)
        return sha

    def merge_pr(self, number: int, style: str = "merge", *, commits: int = 2, message: str = "") -> str:
        """Merge PR ``number`` into its base the ``style`` way (merge, squash or rebase) with
        ``commits`` commits of its own; returns the base's new head. ``message`` replaces the
        squash commit's body (a revert says "This reverts commit <sha>." there)."""
        with self._lock:
            pr = self.prs[number]
            base = pr.base_ref
            head = self.history.branches.get(base)
            assert head is not None, f"no branch {base!r} to merge into"
            owned: list[str] = []
            if style == "squash":
                text = f"{pr.title} (#{number})" + (f"\n\n{message}" if message else "")
                tip = self._new_commit(text, (head,), pr.author)
                owned.append(tip)
            elif style == "rebase":
                tip = head
                for i in range(commits):
                    tip = self._new_commit(f"{pr.title}: step {i + 1}", (tip,), pr.author)
                    owned.append(tip)
            elif style == "merge":
                work = head
                for i in range(commits):
                    work = self._new_commit(f"{pr.title}: step {i + 1}", (work,), pr.author)
                    owned.append(work)
                text = f"Merge pull request #{number} from {pr.author}/{pr.head_ref}\n\n{pr.title}"
                tip = self._new_commit(text, (head, work), "web-flow")
                owned.append(tip)
            else:
                raise ValueError(f"unknown merge style {style!r}")
            for sha in owned:
                self.history.pulls_of.setdefault(sha, []).append(number)
            self.history.branches[base] = tip
            now = self._tick()
            pr.head_sha = owned[-2] if style == "merge" else owned[-1]
            pr.state, pr.updated, pr.merged_at, pr.merge_commit_sha = "closed", now, now, tip
            return tip

    def tag(self, name: str, sha: str, *, annotated: bool = False) -> None:
        with self._lock:
            object_sha = hashlib.sha1(f"tag\0{name}\0{sha}".encode()).hexdigest() if annotated else None  # noqa: S324
            self.history.tags[name] = SimTag(name, object_sha, sha, f"Release {name}")

    def deploy(self, sha: str, environment: str = "production", state: str = "success") -> int:
        """A deployment of ``sha`` to ``environment`` by another system, with one status."""
        with self._lock:
            bot = P.user(self.url, self.url, "deploy-bot[bot]", 4343)
            now = self._tick()
            did = next(self._ids)
            fields = {"ref": sha, "environment": environment, "production_environment": True}
            self.deployments[did] = P.deployment(self.url, self.repository, did, fields, bot, now)
            if state == "success":
                for other, dep in self.deployments.items():
                    history = self.deployment_statuses.get(other, [])
                    if dep["environment"] == environment and history and history[-1]["state"] == "success":
                        history.append(
                            P.deployment_status(
                                self.url, self.repository, other, next(self._ids),
                                {"state": "inactive"}, environment, bot, now,
                            )
                        )  # fmt: skip
            status = P.deployment_status(
                self.url, self.repository, did, next(self._ids), {"state": state}, environment, bot, now
            )
            self.deployment_statuses[did] = [status]
            return did

    # --- reads -----------------------------------------------------------------------

    def _resolve(self, ref: str) -> str | None:
        h = self.history
        if ref in h.branches:
            return h.branches[ref]
        if ref in h.tags:
            return h.tags[ref].commit
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            found = [sha for sha in h.commits if sha.startswith(ref)]
            return found[0] if len(found) == 1 else None
        return None

    def _ancestors(self, sha: str) -> set[str]:
        seen: set[str] = set()
        todo = [sha]
        while todo:
            cur = todo.pop()
            if cur in seen:
                continue
            seen.add(cur)
            todo.extend(self.history.commits[cur].parents)
        return seen

    def _commit_json(self, sha: str) -> dict[str, Any]:
        c = self.history.commits[sha]
        api = f"{self.url}/repos/{self.repository}"
        person = P.user(self.url, self.url, c.author, 2000 + sum(map(ord, c.author)))
        who = {"name": c.author, "email": f"{c.author}@example.com", "date": P.iso(c.at)}
        web = f"{self.url}/{self.repository}"
        tree = hashlib.sha1(f"tree\0{sha}".encode()).hexdigest()  # noqa: S324 - an id
        return {
            "url": f"{api}/commits/{sha}",
            "sha": sha,
            "node_id": P.node_id("Commit", c.index),
            "html_url": f"{self.url}/{self.repository}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{sha}",
                "author": who,
                "committer": who,
                "message": c.message,
                "comment_count": 0,
                "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
            },
            "author": person,
            "committer": person,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"} for p in c.parents
            ],
        }

    def _compare(self, path: str, query: dict[str, str], basehead: str) -> tuple[int, Any, str]:
        base_ref, sep, head_ref = urllib.parse.unquote(basehead).partition("...")
        base, head = self._resolve(base_ref), self._resolve(head_ref)
        if not sep or base is None or head is None:
            missing = head_ref if base is not None else base_ref
            return 404, {"message": f"No commit found for SHA: {missing}"}, ""
        up, down = self._ancestors(head), self._ancestors(base)
        ahead = sorted(up - down, key=lambda s: self.history.commits[s].index)
        behind = down - up
        common = up & down
        merge_base = max(common, key=lambda s: self.history.commits[s].index) if common else base
        if not ahead and not behind:
            status = "identical"
        elif not behind:
            status = "ahead"
        elif not ahead:
            status = "behind"
        else:
            status = "diverged"
        links = ""
        if "per_page" in query or "page" in query:
            chunk, links = self._page(path, query, ahead)
        else:
            chunk = ahead[:COMPARE_UNPAGED]
        html = f"{self.url}/{self.repository}/compare/{base_ref}...{head_ref}"
        body = {
            "url": f"{self.url}/repos/{self.repository}/compare/{base_ref}...{head_ref}",
            "html_url": html,
            "permalink_url": f"{self.url}/{self.repository}/compare/{base[:7]}...{head[:7]}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self._commit_json(base),
            "merge_base_commit": self._commit_json(merge_base),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [self._commit_json(s) for s in chunk],
            "files": [],
        }
        return 200, body, links

    def _ref_json(self, ref: str, sha: str, kind: str) -> dict[str, Any]:
        api = f"{self.url}/repos/{self.repository}/git"
        return {
            "ref": ref,
            "node_id": P.node_id("Ref", sum(map(ord, ref))),
            "url": f"{api}/{ref}",
            "object": {"type": kind, "sha": sha, "url": f"{api}/{kind}s/{sha}"},
        }

    def _tag_ref(self, tag: SimTag) -> dict[str, Any]:
        if tag.object_sha is None:
            return self._ref_json(f"refs/tags/{tag.name}", tag.commit, "commit")
        return self._ref_json(f"refs/tags/{tag.name}", tag.object_sha, "tag")

    def _history_get(self, path: str, query: dict[str, str]) -> tuple[int, Any, str, str] | None:
        """(status, body, Link, route) for the history's read routes; None when not one of them."""
        base = re.escape(f"/repos/{self.repository}")
        h = self.history
        if m := re.fullmatch(rf"{base}/compare/(.+)", path):
            status, body, links = self._compare(path, query, m.group(1))
            return status, body, links, "/repos/{owner}/{repo}/compare/{basehead}"
        if m := re.fullmatch(rf"{base}/commits/([^/]+)/pulls", path):
            sha = self._resolve(m.group(1))
            if sha is None:
                return 422, {"message": f"No commit found for SHA: {m.group(1)}"}, "", "error"
            prs = [self._pr_json(self.prs[n]) for n in h.pulls_of.get(sha, [])]
            chunk, links = self._page(path, query, prs)
            return 200, chunk, links, "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"
        if m := re.fullmatch(rf"{base}/git/ref/heads/(.+)", path):
            name = urllib.parse.unquote(m.group(1))
            if name not in h.branches:
                return 404, {"message": "Not Found"}, "", "error"
            body = self._ref_json(f"refs/heads/{name}", h.branches[name], "commit")
            return 200, body, "", "/repos/{owner}/{repo}/git/ref/{ref}"
        if m := re.fullmatch(rf"{base}/git/matching-refs/tags/?(.*)", path):
            prefix = urllib.parse.unquote(m.group(1))
            refs = [self._tag_ref(t) for name, t in sorted(h.tags.items()) if name.startswith(prefix)]
            return 200, refs, "", "/repos/{owner}/{repo}/git/matching-refs/{ref}"
        if m := re.fullmatch(rf"{base}/git/tags/([0-9a-f]{{40}})", path):
            found = [t for t in h.tags.values() if t.object_sha == m.group(1)]
            if not found:
                return 404, {"message": "Not Found"}, "", "error"
            return 200, self._tag_json(found[0]), "", "/repos/{owner}/{repo}/git/tags/{tag_sha}"
        if path == f"/repos/{self.repository}/deployments":
            wanted = query.get("environment")
            deps = [d for d in self.deployments.values() if wanted is None or d["environment"] == wanted]
            deps.sort(key=lambda d: d["id"], reverse=True)  # newest first, as GitHub lists them
            chunk, links = self._page(path, query, deps)
            return 200, chunk, links, "/repos/{owner}/{repo}/deployments"
        if m := re.fullmatch(rf"{base}/deployments/(\d+)/statuses", path):
            did = int(m.group(1))
            if did not in self.deployments:
                return 404, {"message": "Not Found"}, "", "error"
            statuses = list(reversed(self.deployment_statuses.get(did, [])))
            chunk, links = self._page(path, query, statuses)
            return 200, chunk, links, "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
        return None

    def _tag_json(self, tag: SimTag) -> dict[str, Any]:
        assert tag.object_sha is not None
        api = f"{self.url}/repos/{self.repository}/git"
        return {
            "node_id": P.node_id("Tag", sum(map(ord, tag.name))),
            "tag": tag.name,
            "sha": tag.object_sha,
            "url": f"{api}/tags/{tag.object_sha}",
            "message": tag.message,
            "tagger": {"name": "Release Bot", "email": "release@example.com", "date": "2026-11-01T09:00:00Z"},
            "object": {"type": "commit", "sha": tag.commit, "url": f"{api}/commits/{tag.commit}"},
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }
