"""The simulator's responses match GitHub's own OpenAPI description, byte for byte of schema."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.github_sim import Fault, GitHubSimulator

from pullrekun.adapters.github.client import GitHubClient
from pullrekun.adapters.github.pulls import PullRequestSource
from pullrekun.adapters.state.store import Store
from pullrekun.config import GitHubConfig
from tests import openapi
from tests.conftest import need


@pytest.fixture
def sim() -> Iterator[GitHubSimulator]:
    need(openapi.missing())
    with GitHubSimulator(tokens={"t"}) as s:
        yield s


def _read_all(sim: GitHubSimulator, tmp_path: Path, per_page: int = 2) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        cfg = GitHubConfig(repository=sim.repository, api_url=sim.url, per_page=per_page, retries=0)
        clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
        PullRequestSource(
            GitHubClient(cfg, "t", store.github_facts, clock), store.http_cache, clock
        ).open_pull_requests()
    finally:
        store.close()


def test_pull_request_lists_match_the_openapi_schema(sim: GitHubSimulator, tmp_path: Path) -> None:
    sim.open_pr("a" * 40, title="plain", labels=["db:dev_bob", "no-preview"], body="hello")
    sim.open_pr("b" * 40, draft=True, fork_owner="stranger", head_ref="weird/branch name")
    sim.open_pr("c" * 40, title="ünïcødé ✓")
    _read_all(sim, tmp_path)
    _read_all(sim, tmp_path)  # second time: 304s
    pulls = [s for s in sim.served if s.route == "/repos/{owner}/{repo}/pulls"]
    assert {s.status for s in pulls} == {200, 304}
    for served in pulls:
        openapi.validate(served.route, "get", served.status, served.body)


def test_repository_and_error_payloads_match_the_openapi_schema(sim: GitHubSimulator) -> None:
    import urllib.error
    import urllib.request

    def get(path: str) -> None:
        req = urllib.request.Request(sim.url + path, headers={"Authorization": "token t"})
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(req, timeout=5).read()

    get(f"/repos/{sim.repository}")
    sim.inject(Fault(422, path_prefix=f"/repos/{sim.repository}/pulls", message="Validation Failed"))
    get(f"/repos/{sim.repository}/pulls")
    repo = next(s for s in sim.served if s.route == "/repos/{owner}/{repo}")
    openapi.validate(repo.route, "get", 200, repo.body)
    err = next(s for s in sim.served if s.status == 422)
    openapi.validate("/repos/{owner}/{repo}/pulls", "get", 422, err.body)


def test_history_reads_match_the_openapi_schema(sim: GitHubSimulator) -> None:
    """compare (paged), a commit's pulls, refs, annotated tags, deployments and their statuses."""
    import urllib.error
    import urllib.request

    start = sim.history.branches["main"]
    styles = {"merge": 0, "squash": 0, "rebase": 0}
    for style in styles:
        styles[style] = sim.open_pr("f" * 40, title=f"{style} me", body="## Release risk\nnone")
        sim.merge_pr(styles[style], style)
    head = sim.history.branches["main"]
    sim.tag("v1.0.0", start)
    sim.tag("v1.1.0", head, annotated=True)
    sim.deploy(start)
    sim.deploy(head)

    def get(path: str) -> None:
        req = urllib.request.Request(sim.url + path, headers={"Authorization": "token t"})
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(req, timeout=5).read()

    repo = f"/repos/{sim.repository}"
    get(f"{repo}/compare/{start}...{head}?per_page=3&page=2")
    get(f"{repo}/compare/{head}...{start}")
    get(f"{repo}/compare/{start}...nosuchref")
    merge_commit = sim.prs[styles["merge"]].merge_commit_sha
    get(f"{repo}/commits/{merge_commit}/pulls")
    get(f"{repo}/git/ref/heads/main")
    get(f"{repo}/git/matching-refs/tags/v")
    tag_object = sim.history.tags["v1.1.0"].object_sha
    get(f"{repo}/git/tags/{tag_object}")
    get(f"{repo}/deployments?environment=production")
    newest = max(sim.deployments)
    get(f"{repo}/deployments/{newest}/statuses?per_page=1")
    checked = set()
    for served in sim.served:
        if served.route == "error":
            continue
        openapi.validate(served.route, "get", served.status, served.body)
        checked.add(served.route)
    assert len(checked) == 7, checked
    compares = [s.body for s in sim.served if s.route.endswith("/compare/{basehead}")]
    assert [c["status"] for c in compares] == ["ahead", "behind"]
    assert compares[0]["total_commits"] == 3 + 1 + 2  # two commits and a merge, a squash, two rebased
    assert len(compares[0]["commits"]) == 3
    missing = next(s for s in sim.served if s.status == 404)
    openapi.validate("/repos/{owner}/{repo}/compare/{basehead}", "get", 404, missing.body)
    pulls = next(s.body for s in sim.served if s.route.endswith("/pulls") and "commits" in s.path)
    assert [p["number"] for p in pulls] == [styles["merge"]]
    assert pulls[0]["merged_at"]


def test_release_payloads_match_the_openapi_schema(sim: GitHubSimulator) -> None:
    import json
    import urllib.request

    def call(method: str, path: str, body: object = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            sim.url + path, data=data, method=method, headers={"Authorization": "token t"}
        )
        urllib.request.urlopen(req, timeout=5).read()

    repo = f"/repos/{sim.repository}"
    call("POST", f"{repo}/releases", {"tag_name": "next", "name": "Next release", "body": "b", "draft": True})
    (rid,) = sim.releases
    call("PATCH", f"{repo}/releases/{rid}", {"body": "waiting: #1"})
    sim.publish_release(rid)
    call("GET", f"{repo}/releases?per_page=100")
    call("GET", f"{repo}/releases/{rid}")
    methods = {"POST": "post", "PATCH": "patch", "GET": "get"}
    for served in sim.served:
        openapi.validate(served.route, methods[served.method], served.status, served.body)
    assert [s.status for s in sim.served] == [201, 200, 200, 200]
    assert sim.served[-1].body["draft"] is False
    assert sim.served[-1].body["body"] == "waiting: #1"
