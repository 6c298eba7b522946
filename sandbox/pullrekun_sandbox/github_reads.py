"""The simulator's read side: repository and pull request payloads, paging with Link headers,
and the GitHub App's installation tokens (RS256 JWT checked against the App's public key).

A mixin of :class:`pullrekun_sandbox.github_sim.GitHubSimulator`, which holds the state and
serves these over HTTP.
"""

from __future__ import annotations

import datetime as dt
import secrets
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from pullrekun_sandbox import github_payloads as P
from pullrekun_sandbox.github_records import SimApp, SimPR


class ReadEndpoints:
    # The simulator's state these read (set by GitHubSimulator.__init__).
    repository: str
    prs: dict[int, SimPR]
    app: SimApp | None
    #: A private repository (the usual case for a company's app); False: anyone may read it.
    private: bool

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _error(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str],
        route: str,
        counted: bool,
    ) -> None:
        raise NotImplementedError

    def _repo_json(self, full_name: str | None = None) -> dict[str, Any]:
        full_name = full_name or self.repository
        owner_login = full_name.split("/")[0]
        owner = P.user(self.url, self.url, owner_login, 1 + sum(map(ord, owner_login)))
        rid = 500 + sum(map(ord, full_name))
        created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        return P.repository(self.url, self.url, full_name, rid, owner, created, private=self.private)

    def _pr_json(self, pr: SimPR) -> dict[str, Any]:
        base_repo = self._repo_json()
        head_repo = (
            self._repo_json(f"{pr.fork_owner}/{self.repository.split('/')[1]}")
            if pr.fork_owner
            else base_repo
        )
        labels = [P.label(self.url, self.repository, name, 7000 + i) for i, name in enumerate(pr.labels)]
        simple = P.pull_request_simple(
            api=self.url,
            web=self.url,
            full_name=self.repository,
            number=pr.number,
            pid=100000 + pr.number,
            title=pr.title,
            body=pr.body,
            author=P.user(self.url, self.url, pr.author, 2000 + sum(map(ord, pr.author))),
            head_ref=pr.head_ref,
            head_sha=pr.head_sha,
            head_repo=head_repo,
            base_ref=pr.base_ref,
            base_sha="0" * 40,
            base_repo=base_repo,
            created=pr.created,
            updated=pr.updated,
            draft=pr.draft,
            labels=labels,
        )
        if pr.state == "closed":
            simple["state"], simple["closed_at"] = "closed", P.iso(pr.updated)
        if pr.merged_at is not None:
            simple["merged_at"], simple["merge_commit_sha"] = P.iso(pr.merged_at), pr.merge_commit_sha
        return simple

    # --- HTTP ----------------------------------------------------------------------

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> tuple[list[Any], str]:
        """One page of ``items`` (``per_page``, ``page``) and its ``Link`` header value."""
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(items) // per_page))

        def link(n: int) -> str:
            q = dict(query, page=str(n), per_page=str(per_page))
            return f"<{self.url}{path}?{urllib.parse.urlencode(q)}>"

        rels = []
        if page > 1:
            rels += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        return items[(page - 1) * per_page : page * per_page], ", ".join(rels)

    def _pulls_page(self, path: str, query: dict[str, str]) -> tuple[list[Any], str]:
        state = query.get("state", "open")
        sort = query.get("sort", "created")
        direction = query.get("direction", "desc")  # GitHub's default for every sort
        prs = [p for p in self.prs.values() if state == "all" or p.state == state]
        by_updated = sort == "updated"
        prs.sort(
            key=lambda p: (p.updated if by_updated else p.created, p.number), reverse=direction == "desc"
        )
        chunk, links = self._page(path, query, prs)
        return [self._pr_json(p) for p in chunk], links

    # --- the App -------------------------------------------------------------------

    def _installation_of(self, cred: str | None) -> int | None:
        app = self.app
        if app is None or cred is None or cred not in app.issued:
            return None
        if app.issued[cred] <= dt.datetime.now(dt.UTC):
            return None  # expired: GitHub answers 401
        return app.installation_id

    def _access_token(self, h: BaseHTTPRequestHandler, path: str, headers: dict[str, str]) -> None:
        import jwt

        app = self.app
        assert app is not None
        route = "/app/installations/{installation_id}/access_tokens"
        wanted = f"/app/installations/{app.installation_id}/access_tokens"
        auth = h.headers.get("Authorization", "")
        try:
            claims = jwt.decode(
                auth.removeprefix("Bearer ").strip(), app.public_key_pem, algorithms=["RS256"]
            )
        except jwt.PyJWTError as exc:
            body = self._error(401, f"A JSON web token could not be decoded: {exc}")
            self._send(h, 401, body, headers, route, True)
            return
        if str(claims.get("iss")) != str(app.app_id):
            self._send(
                h, 401, self._error(401, "'Issuer' claim ('iss') must be an Integer"), headers, route, True
            )
            return
        if h.command != "POST" or path != wanted:
            self._send(h, 404, self._error(404, "Not Found"), headers, route, True)
            return
        token = "ghs_" + secrets.token_hex(18)
        expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + app.token_lifetime
        app.issued[token] = expires
        self._send(h, 201, P.installation_token(token, expires), headers, route, True)
