"""The simulator's write endpoints: commit statuses, check runs, deployments, comments, labels.

A mixin of :class:`pullrekun_sandbox.github_sim.GitHubSimulator`, which holds the state these
methods change and serves them over HTTP. Each endpoint validates what GitHub validates (see
the simulator's docstring) and answers with GitHub's payloads (``github_payloads``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import urllib.parse
from typing import Any

from pullrekun_sandbox import github_payloads as P
from pullrekun_sandbox.github_records import SimApp, SimPR


class WriteEndpoints:
    # The simulator's state these endpoints change (set by GitHubSimulator.__init__).
    repository: str
    prs: dict[int, SimPR]
    statuses: dict[str, list[dict[str, Any]]]
    check_runs: dict[int, dict[str, Any]]
    deployments: dict[int, dict[str, Any]]
    deployment_statuses: dict[int, list[dict[str, Any]]]
    comments: dict[int, dict[str, Any]]
    app: SimApp | None
    _ids: itertools.count[int]
    _lock: threading.RLock

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _tick(self) -> dt.datetime:
        raise NotImplementedError

    def label_event(self, number: int, event: str, name: str, actor: str, at: dt.datetime) -> None:
        raise NotImplementedError

    def _release_write(
        self, method: str, path: str, fields: dict[str, Any], author: dict[str, Any]
    ) -> tuple[int, Any, str] | None:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    # --- writes --------------------------------------------------------------------

    def _bot(self, installation: int | None) -> dict[str, Any]:
        login = "pullrekun[bot]" if installation else "pullrekun-operator"
        u = P.user(self.url, self.url, login, 900001 if installation else 900002)
        if installation:
            u["type"] = "Bot"
        return u

    def _write(self, method: str, path: str, body: Any, installation: int | None) -> tuple[int, Any, str]:
        base = re.escape(f"/repos/{self.repository}")
        fields = body if isinstance(body, dict) else {}
        now = self._tick()
        bot = self._bot(installation)

        def invalid(message: str) -> tuple[int, Any, str]:
            return 422, {**self._error(422, "Validation Failed"), "errors": [{"message": message}]}, "error"

        if (release := self._release_write(method, path, fields, bot)) is not None:
            return release
        if method == "POST" and (m := re.fullmatch(rf"{base}/statuses/([0-9a-f]{{40}})", path)):
            route = "/repos/{owner}/{repo}/statuses/{sha}"
            if fields.get("state") not in ("error", "failure", "pending", "success"):
                return invalid("state is not included in the list")
            if len(fields.get("description") or "") > 140:
                return invalid("description is too long (maximum is 140 characters)")
            sha = m.group(1)
            sid = next(self._ids)
            status = P.commit_status(
                self.url,
                self.repository,
                sid,
                sha,
                fields["state"],
                fields.get("description"),
                fields.get("target_url"),
                fields.get("context", "default"),
                bot,
                now,
            )
            self.statuses.setdefault(sha, []).append(status)
            return 201, status, route
        if method in ("POST", "PATCH") and (m := re.fullmatch(rf"{base}/check-runs(?:/(\d+))?", path)):
            route = "/repos/{owner}/{repo}/check-runs" + ("/{check_run_id}" if m.group(1) else "")
            if installation is None:
                return 403, self._error(403, "Resource not accessible by personal access token"), route
            if method == "PATCH":
                run_id = int(m.group(1) or 0)
                if run_id not in self.check_runs:
                    return 404, self._error(404, "Not Found"), "error"
                old = self.check_runs[run_id]
                fields = {**old, **fields, "output": {**old["output"], **(fields.get("output") or {})}}
                if fields.get("status") != "completed":
                    fields["conclusion"] = None
            elif method == "POST" and m.group(1) is None:
                run_id = next(self._ids)
                if not re.fullmatch(r"[0-9a-f]{40}", str(fields.get("head_sha", ""))) or not fields.get(
                    "name"
                ):
                    return invalid("head_sha and name are required")
            else:
                return 404, self._error(404, "Not Found"), "error"
            if fields.get("conclusion") and fields.get("status") != "completed":
                fields["status"] = "completed"  # GitHub: a conclusion completes the run
            if fields.get("status") == "completed" and not fields.get("conclusion"):
                return invalid("conclusion is required when status is completed")
            old_run = self.check_runs.get(run_id)
            started = (
                dt.datetime.fromisoformat(old_run["started_at"].replace("Z", "+00:00")) if old_run else now
            )
            run = P.check_run(
                self.url,
                self.url,
                self.repository,
                run_id,
                fields,
                P.integration(self.url, self.url, 424242, P.user(self.url, self.url, "acme", 4242)),
                5000 + run_id,
                started,
                now if fields.get("status") == "completed" else None,
            )
            self.check_runs[run_id] = run
            return (201 if method == "POST" else 200), run, route
        if method == "POST" and path == f"/repos/{self.repository}/deployments":
            route = "/repos/{owner}/{repo}/deployments"
            ref = str(fields.get("ref", ""))
            if not ref:
                return invalid("ref is required")
            if len(fields.get("description") or "") > 140:
                return invalid("description is too long (maximum is 140 characters)")
            if "required_contexts" not in fields:
                bad = [st for st in self.statuses.get(ref, []) if st["state"] != "success"]
                if bad:
                    msg = "Conflict: Commit status checks failed for " + ref
                    return 409, self._error(409, msg), route
            did = next(self._ids)
            dep = P.deployment(self.url, self.repository, did, {**fields, "ref": ref}, bot, now)
            self.deployments[did] = dep
            self.deployment_statuses[did] = []
            return 201, dep, route
        if method == "POST" and (m := re.fullmatch(rf"{base}/deployments/(\d+)/statuses", path)):
            route = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
            did = int(m.group(1))
            if did not in self.deployments:
                return 404, self._error(404, "Not Found"), "error"
            states = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
            if fields.get("state") not in states:
                return invalid("state is not included in the list")
            if len(fields.get("description") or "") > 140:
                return invalid("description is too long (maximum is 140 characters)")
            environment = self.deployments[did]["environment"]
            st = P.deployment_status(
                self.url, self.repository, did, next(self._ids), fields, environment, bot, now
            )
            self.deployment_statuses[did].append(st)
            if fields["state"] == "success" and fields.get("auto_inactive", True):
                for other, dep in self.deployments.items():
                    history = self.deployment_statuses[other]
                    if (
                        other != did
                        and dep["environment"] == environment
                        and history
                        and history[-1]["state"] == "success"
                    ):
                        inactive = {"state": "inactive", "description": "superseded"}
                        history.append(
                            P.deployment_status(
                                self.url,
                                self.repository,
                                other,
                                next(self._ids),
                                inactive,
                                environment,
                                bot,
                                now,
                            )
                        )
            return 201, st, route
        if method == "POST" and (m := re.fullmatch(rf"{base}/issues/(\d+)/comments", path)):
            route = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
            number = int(m.group(1))
            if number not in self.prs:
                return 404, self._error(404, "Not Found"), "error"
            if not isinstance(fields.get("body"), str) or len(fields["body"]) > 65536:
                return invalid("body is missing or too long (maximum is 65536 characters)")
            cid = next(self._ids)
            comment = P.issue_comment(
                self.url, self.url, self.repository, cid, number, fields["body"], bot, now, now
            )
            if installation:  # GitHub names the App a comment came through
                app_id = self.app.app_id if self.app is not None else 424242
                owner = P.user(self.url, self.url, "acme", 4242)
                comment["performed_via_github_app"] = P.integration(self.url, self.url, app_id, owner)
            self.comments[cid] = comment
            self.prs[number].updated = now  # a comment moves the PR's updated_at
            return 201, comment, route
        if method == "PATCH" and (m := re.fullmatch(rf"{base}/issues/comments/(\d+)", path)):
            route = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
            cid = int(m.group(1))
            if cid not in self.comments:
                return 404, self._error(404, "Not Found"), "error"
            if not isinstance(fields.get("body"), str) or len(fields["body"]) > 65536:
                return invalid("body is missing or too long (maximum is 65536 characters)")
            old = self.comments[cid]
            number = int(old["issue_url"].rsplit("/", 1)[1])
            created = dt.datetime.fromisoformat(old["created_at"].replace("Z", "+00:00"))
            comment = P.issue_comment(
                self.url, self.url, self.repository, cid, number, fields["body"], old["user"], created, now
            )
            self.comments[cid] = comment
            self.prs[number].updated = now
            return 200, comment, route
        if method == "DELETE" and (m := re.fullmatch(rf"{base}/issues/(\d+)/labels/([^/]+)", path)):
            route = "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"
            number, name = int(m.group(1)), urllib.parse.unquote(m.group(2))
            pr = self.prs.get(number)
            if pr is None or name not in pr.labels:
                return 404, self._error(404, "Label does not exist"), route
            pr.labels.remove(name)
            pr.updated = now
            self.label_event(number, "unlabeled", name, bot["login"], now)
            labels = [P.label(self.url, self.repository, n, 7000 + i) for i, n in enumerate(pr.labels)]
            return 200, labels, route
        return 404, self._error(404, "Not Found"), "error"

    def user_comment(self, number: int, body: str, login: str = "reviewer") -> int:
        """What a person commenting on the PR in the UI does; returns the comment id."""
        with self._lock:
            now = self._tick()
            cid = next(self._ids)
            person = P.user(self.url, self.url, login, 3000 + sum(map(ord, login)))
            self.comments[cid] = P.issue_comment(
                self.url, self.url, self.repository, cid, number, body, person, now, now
            )
            self.prs[number].updated = now
            return cid

    def delete_comment(self, comment_id: int) -> None:
        """What a person deleting pullrekun's comment in the UI does."""
        with self._lock:
            del self.comments[comment_id]
