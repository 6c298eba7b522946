"""Reading open PRs through PyGithub against the simulator: pages, ETags, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.github_sim import Fault, GitHubSimulator

from pullrekun.adapters.github.client import GitHubClient
from pullrekun.adapters.github.pulls import GitHubUnavailable, PullRequestSource
from pullrekun.adapters.state.store import Store
from pullrekun.config import GitHubConfig

TOKEN = "ghp_test"


@pytest.fixture
def sim() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(tokens={TOKEN, "ghs_renewed"}) as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def source(
    sim: GitHubSimulator, store: Store, token: str = TOKEN, per_page: int = 100, retries: int = 0
) -> PullRequestSource:
    cfg = GitHubConfig(repository=sim.repository, api_url=sim.url, per_page=per_page, retries=retries)
    clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
    return PullRequestSource(GitHubClient(cfg, token, store.github_facts, clock), store.http_cache, clock)


def sha(n: int) -> str:
    return f"{n:040x}"


def test_all_pages_are_read_and_prs_parsed(sim: GitHubSimulator, store: Store) -> None:
    for n in range(1, 251):
        sim.open_pr(
            sha(n),
            title=f"PR {n}",
            author=f"dev{n % 7}",
            head_ref=f"br-{n}",
            labels=["db:reset"] if n == 7 else [],
        )
    src = source(sim, store, per_page=100)
    prs = src.open_pull_requests()
    assert [p.number for p in prs] == list(range(1, 251))
    assert src.stats.requests == 3
    seven = prs[6]
    assert (seven.head_sha, seven.author, seven.head_ref) == (sha(7), "dev0", "br-7")
    assert seven.labels == ("db:reset",)
    assert not seven.from_fork


def test_an_idle_pass_costs_no_rate_limit(sim: GitHubSimulator, store: Store) -> None:
    for n in range(1, 151):
        sim.open_pr(sha(n))
    source(sim, store).open_pull_requests()
    before = sim.counters()
    again = source(sim, store)
    prs = again.open_pull_requests()
    after = sim.counters()
    assert len(prs) == 150
    assert again.stats.requests == again.stats.not_modified == 2
    assert after["counted"] == before["counted"], "304s with a token are free"


def test_a_change_on_a_later_page_is_seen(sim: GitHubSimulator, store: Store) -> None:
    for n in range(1, 8):
        sim.open_pr(sha(n))
    source(sim, store, per_page=3).open_pull_requests()
    sim.push(7, sha(77))
    sim.close(2)
    prs = {p.number: p for p in source(sim, store, per_page=3).open_pull_requests()}
    assert prs[7].head_sha == sha(77)
    assert 2 not in prs


def test_etags_are_tied_to_the_credential(sim: GitHubSimulator, store: Store) -> None:
    sim.open_pr(sha(1))
    first = source(sim, store)
    first.open_pull_requests()
    again = source(sim, store)
    again.open_pull_requests()
    assert sim.served[-1].if_none_match, "the same credential presents its ETag"
    assert again.stats.not_modified == 1
    renewed = source(sim, store, token="ghs_renewed")
    renewed.open_pull_requests()
    # GitHub would answer 200 to another credential's ETag anyway; what matters is that
    # pullrekun never presents one: its cache is kept per credential.
    assert sim.served[-1].if_none_match is None, "a new token must not present the old token's ETag"


@pytest.mark.parametrize(
    ("status", "headers"), [(502, {}), (500, {}), (403, {"Retry-After": "0"}), (404, {}), (422, {})]
)
def test_errors_never_read_as_no_prs(
    sim: GitHubSimulator, store: Store, status: int, headers: dict[str, str]
) -> None:
    sim.open_pr(sha(1))
    sim.inject(Fault(status, times=20, headers=headers, path_prefix="/repos/"))
    with pytest.raises(GitHubUnavailable):
        source(sim, store).open_pull_requests()


def test_an_error_on_a_later_page_fails_the_whole_read(sim: GitHubSimulator, store: Store) -> None:
    for n in range(1, 6):
        sim.open_pr(sha(n))
    source(sim, store, per_page=2).open_pull_requests()
    sim.push(5, sha(55))
    sim.inject(Fault(502, times=20, path_prefix=f"/repos/{sim.repository}/pulls"))
    # Page one answers from cache (304), then page two fails: no partial list comes back.
    with pytest.raises(GitHubUnavailable):
        source(sim, store, per_page=2).open_pull_requests()


def test_transient_5xx_is_retried(sim: GitHubSimulator, store: Store) -> None:
    sim.open_pr(sha(1))
    sim.inject(Fault(502, times=1, path_prefix="/repos/"))
    prs = source(sim, store, retries=2).open_pull_requests()
    assert [p.number for p in prs] == [1]


def test_bad_credentials_are_an_error_not_an_empty_list(sim: GitHubSimulator, store: Store) -> None:
    sim.open_pr(sha(1))
    with pytest.raises(GitHubUnavailable, match=r"401|Bad credentials"):
        source(sim, store, token="wrong").open_pull_requests()


def test_hostile_titles_and_branch_names_stay_display_text(sim: GitHubSimulator, store: Store) -> None:
    hostile = "$(rm -rf /); `id`; {{ lookup('pipe','id') }}; '; DROP TABLE x; --"
    sim.open_pr(sha(1), title=hostile, head_ref="x;$(id)", author="mallory")
    (pr,) = source(sim, store).open_pull_requests()
    assert pr.title == hostile
    assert pr.head_ref == "x;$(id)"


def test_a_malformed_pr_fails_the_read_instead_of_vanishing(sim: GitHubSimulator, store: Store) -> None:
    sim.open_pr("not-a-sha")
    with pytest.raises(GitHubUnavailable, match="malformed"):
        source(sim, store).open_pull_requests()


def test_fork_prs_are_recognised(sim: GitHubSimulator, store: Store) -> None:
    sim.open_pr(sha(1), fork_owner="stranger")
    (pr,) = source(sim, store).open_pull_requests()
    assert pr.from_fork
