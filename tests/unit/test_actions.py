"""The dashboard's and the API's checks before a request is recorded (a real SQLite state DB)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from pullrekun.adapters.state.store import Store
from pullrekun.app.pool import tag_policy
from pullrekun.config import AppConfig, Config, DatabaseConfig, GitHubConfig
from pullrekun.web.actions import Actions

CFG = Config(
    github=GitHubConfig(repository="acme/shop"),
    app=AppConfig(repo_url="https://example.invalid/shop.git", command="./run"),
    database=DatabaseConfig(
        default_source="dev_shared", authors={"Alice": "dev_alice"}, source_patterns=("dev_*",)
    ),
)


class Pokes:
    def __init__(self) -> None:
        self.count = 0

    def poke(self, reason: str) -> None:
        self.count += 1


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def actions(store: Store, cfg: Config = CFG) -> Actions:
    return Actions(cfg, store, Pokes(), lambda: {})


@pytest.mark.parametrize(
    ("login", "schema", "said"),
    [
        ("bob", "dev_bob`; DROP DATABASE x", "schema name must match"),
        ("bob", "stage_i_0123456789abcdef0", "has the shape of an environment's schema"),
        ("bob", "", "schema name must match"),
        ("-bob", "dev_bob", "GitHub login"),
        ("bob--x", "dev_bob", "GitHub login"),
        ("b" * 40, "dev_bob", "GitHub login"),
        ("bob\n", "dev_bob", "GitHub login"),
    ],
)
def test_hostile_schema_table_edits_are_refused_and_change_nothing(
    store: Store, login: str, schema: str, said: str
) -> None:
    answer = actions(store).set_schema(login, schema, "local:ada")
    assert (answer.status, said in answer.message) == (422, True), answer
    assert store.requests.schema_sources() == ()


def test_an_edit_overrides_the_config_and_back_to_the_config_removes_it(store: Store) -> None:
    a = actions(store)
    assert a.schema_table() == [("alice", "dev_alice", "config", None, None)]
    assert a.set_schema("ALICE", "dev_alice2", "local:ada").ok
    assert a.set_schema("bob", "dev_bob", "github:ann").ok
    table = {row[0]: row[1:4] for row in a.schema_table()}
    assert table == {
        "alice": ("dev_alice2", "edited", "local:ada"),
        "bob": ("dev_bob", "edited", "github:ann"),
    }
    edited = store.requests.edited_authors()
    policy = CFG.planner.database
    assert policy is not None
    assert dict(policy.with_edits(edited).authors) == {"alice": "dev_alice2", "bob": "dev_bob"}
    assert "dev_alice2" in tag_policy(CFG, edited).protected_schemas, (
        "an edited source is never a clone's target"
    )
    assert a.reset_schema("Alice", "local:ada").ok
    assert a.reset_schema("carol", "local:ada").status == 404
    assert a.schema_table()[0] == ("alice", "dev_alice", "config", None, None)
    kinds = [(e.kind, e.actor) for e in store.events.recent()]
    assert kinds.count(("schema_table", "local:ada")) == 2


def test_without_a_database_section_there_is_no_schema_table(store: Store) -> None:
    a = actions(store, dataclasses.replace(CFG, database=None))
    assert a.set_schema("bob", "dev_bob", "local:ada").status == 404
    assert "reset-db" not in a.environment_verbs()


def _ready_pr(store: Store, author: str) -> tuple[int, str]:
    """PR #7 by ``author``, ready at its head on a running instance, as a pass would record it."""
    import datetime as dt

    from pullrekun.adapters.state.journal import DeployOutcome
    from pullrekun.core.model import Assign, Deploy, Plan, PullRequest
    from pullrekun.core.views import Phase, PullRequestView

    sha, now = "a" * 40, dt.datetime(2026, 12, 5, 9, tzinfo=dt.UTC)
    ids = store.journal.record_intent(
        Plan(actions=(Assign(7, "i-00000007"), Deploy(7, "i-00000007", sha, "new assignment"))), now, None
    )
    store.journal.record_outcomes([DeployOutcome(7, "i-00000007", sha, True)], ids, now)
    pull = PullRequest(7, sha, now, author=author, title="a change")
    store.pulls.record({7: PullRequestView(pull, Phase.READY, "ready", now)})
    return 7, sha


def test_an_author_signs_off_their_own_pr_only_where_the_config_allows_it(store: Store) -> None:
    from pullrekun.config.sections import VerifyConfig
    from pullrekun.core.model import Instance, InstanceState

    pr, sha = _ready_pr(store, "Alice")
    running = {"i-00000007": Instance("i-00000007", InstanceState.RUNNING, "127.0.0.7")}
    refused = Actions(CFG, store, Pokes(), lambda: running).verify(pr, True, "", "github:alice")
    assert (refused.status, "alice wrote PR #7" in refused.message) == (403, True), refused
    assert store.signoffs.history(pr) == ()
    assert Actions(CFG, store, Pokes(), lambda: running).verify(pr, True, "", "local:alice").ok, (
        "a local account is not the GitHub author"
    )
    allowing = dataclasses.replace(CFG, verify=VerifyConfig(allow_author=True))
    assert Actions(allowing, store, Pokes(), lambda: running).verify(pr, True, "", "github:alice").ok
    assert [(s.actor, s.sha) for s in store.signoffs.history(pr)] == [
        ("github:alice", sha),
        ("local:alice", sha),
    ]
