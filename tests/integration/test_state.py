"""The state DB on SQLite and on the real MariaDB: migrations, records, the pass lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from sqlalchemy.exc import IntegrityError

from pullrekun.adapters.state.engine import HEAD_REVISION, current_revision
from pullrekun.adapters.state.journal import DeployOutcome
from pullrekun.adapters.state.lock import LockHeld, pass_lock
from pullrekun.adapters.state.store import Store
from pullrekun.core.model import Assign, Deploy, EnvStatus, Plan, QueuedPR, Unassign

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
_n = itertools.count(1)


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: MariaDB = request.getfixturevalue("mariadb")
    return server.create_database(f"state_{next(_n)}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def test_migrations_are_idempotent(db_url: str) -> None:
    store = Store.open(db_url)
    store.events.add(NOW, "kept", "survives a second migrate")
    store.close()
    store = Store.open(db_url)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        assert [e.kind for e in store.events.recent()] == ["kept"]
    finally:
        store.close()


def test_intent_then_outcomes_round_trip(store: Store) -> None:
    sha = "c" * 40
    plan = Plan(
        actions=(Assign(3, "i-00000001"), Deploy(3, "i-00000001", sha, "new assignment")),
        queue=(QueuedPR(4, 1),),
    )
    ids = store.journal.record_intent(plan, NOW, "/artifacts/x")
    (asg,) = store.journal.assignments()
    assert (asg.pr_number, asg.status, asg.deployed_sha) == (3, EnvStatus.DEPLOYING, None)
    assert store.journal.queue()[0][:2] == (4, 1)
    store.journal.record_outcomes([DeployOutcome(3, "i-00000001", sha, True)], ids, NOW)
    (asg,) = store.journal.assignments()
    assert (asg.status, asg.deployed_sha, asg.since) == (EnvStatus.READY, sha, NOW)
    (dep,) = store.journal.deployments(3)
    assert dep.status == "success"
    assert dep.artifacts == "/artifacts/x"

    ids = store.journal.record_intent(
        Plan(actions=(Deploy(3, "i-00000001", "d" * 40, "new head commit"),)), NOW, None
    )
    store.journal.record_outcomes(
        [DeployOutcome(3, "i-00000001", "d" * 40, False, "Wait until the app answers", "Status code was -1")],
        ids,
        NOW,
    )
    env = store.journal.environments()[0]
    assert env.assignment.status == EnvStatus.FAILED
    assert env.assignment.deployed_sha == sha, "a failed deploy keeps the last good sha"
    assert env.failed_task == "Wait until the app answers"

    store.journal.record_intent(Plan(actions=(Unassign(3, "i-00000001", "pull request closed"),)), NOW, None)
    assert store.journal.assignments() == ()
    assert {e.kind for e in store.events.recent()} >= {"assigned", "unassigned", "deploy_failed"}


def test_one_instance_can_never_be_held_twice(store: Store) -> None:
    store.journal.record_intent(Plan(actions=(Assign(1, "i-00000001"),)), NOW, None)
    with pytest.raises(IntegrityError):
        store.journal.record_intent(Plan(actions=(Assign(2, "i-00000001"),)), NOW, None)
    assert [a.pr_number for a in store.journal.assignments()] == [1], "the failed write changed nothing"


def test_the_pass_lock_excludes_a_second_holder(store: Store, db_url: str) -> None:
    """One lock per state DB: a controller of another pool on the same state DB waits too."""
    with pass_lock(store.engine) as held:
        held.check()
        other = Store.open(db_url)
        try:
            with pytest.raises(LockHeld), pass_lock(other.engine):
                pass
        finally:
            other.close()
    with pass_lock(store.engine):
        pass


def test_the_lock_dies_with_its_holder(db_url: str) -> None:
    code = (
        "import sys\n"
        "from pullrekun.adapters.state.store import Store\n"
        "from pullrekun.adapters.state.lock import pass_lock\n"
        f"s = Store.open({db_url!r})\n"
        "with pass_lock(s.engine):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    store = Store.open(db_url)
    try:
        with pytest.raises(LockHeld), pass_lock(store.engine):
            pass
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.wait()
        for _ in range(50):
            try:
                with pass_lock(store.engine):
                    break
            except LockHeld:
                import time

                time.sleep(0.1)
        else:
            raise AssertionError("the lock outlived its killed holder")
    finally:
        store.close()


def test_head_revision_constant_matches_the_migrations() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from pullrekun.adapters.state.engine import HEAD_REVISION, MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_clone_outcomes_and_reset_requests_are_recorded(store: Store) -> None:
    from pullrekun.core.model import CloneSchema, ForgetResetLabel

    sha = "e" * 40
    clone = CloneSchema(5, "i-00000005", "dev_alice", "stage_5", "new assignment", reset_label=True)
    plan = Plan(actions=(Assign(5, "i-00000005"), clone, Deploy(5, "i-00000005", sha, "new assignment")))
    ids = store.journal.record_intent(plan, NOW, None)
    store.journal.record_outcomes([DeployOutcome(5, "i-00000005", sha, True, cloned=clone)], ids, NOW)
    (asg,) = store.journal.assignments()
    assert (asg.db_source, asg.db_reset_seen, asg.db_reset_requested) == ("dev_alice", True, False)
    assert store.requests.reset(5, NOW)
    assert store.journal.assignments()[0].db_reset_requested
    assert not store.requests.reset(99, NOW), "no environment, nothing to reset"
    store.journal.record_intent(Plan(actions=(ForgetResetLabel(5),)), NOW, None)
    assert not store.journal.assignments()[0].db_reset_seen
    assert "schema_cloned" in {e.kind for e in store.events.recent()}


def test_the_notice_ledger_records_before_sending_and_tracks_each_send(store: Store) -> None:
    from pullrekun.adapters.state.notices import PENDING, SENDING, SENT, UNKNOWN, NoticeLedger

    ledger = NoticeLedger(store)
    assert ledger.last_move() is None
    first = ledger.record("first", None, "a" * 40, None, (), NOW)
    move = ledger.record(
        "release", "a" * 40, "b" * 40, "Released: " + "é" * 70000, ("slack", "google_chat"), NOW
    )
    assert ledger.last_move() is not None
    assert ledger.last_move().id == move  # type: ignore[union-attr]
    assert {(n.id, s.channel, s.state) for n, s in ledger.unsent()} == {
        (move, "google_chat", PENDING), (move, "slack", PENDING)
    }  # fmt: skip
    assert len(ledger.unsent()[0][0].text or "") == 10 + 70000, "a long message is kept whole"
    ledger.mark(move, "slack", SENDING, NOW)
    ledger.mark(move, "slack", UNKNOWN, NOW, "a pass stopped while sending it")
    ledger.mark(move, "google_chat", SENDING, NOW)
    ledger.mark(move, "google_chat", SENT, NOW)
    assert ledger.unsent() == ()
    ((notice, send),) = ledger.unknown()
    assert (notice.id, send.channel, send.attempts) == (move, "slack", 1)
    assert ledger.resend(move, NOW, "cli:ops")
    assert not ledger.resend(move, NOW, "cli:ops"), "only an unknown send is sent again"
    assert [s.state for _, s in ledger.unsent()] == [PENDING]
    asked = ledger.record("pending", None, None, None, (), NOW, actor="local:ada")
    assert [n.id for n in ledger.unrendered()] == [asked]
    ledger.fill(asked, "Waiting: nothing", ("slack",), NOW)
    assert ledger.unrendered() == ()
    assert ledger.last_move().id == move, "a waiting notice is not a production move"  # type: ignore[union-attr]
    slot = NOW.replace(hour=9, minute=30)
    ledger.record("pending", None, "b" * 40, "Waiting", ("slack",), NOW, actor="schedule", slot=slot)
    assert ledger.last_scheduled() == slot
    assert [n.kind for n in ledger.recent()][:2] == ["pending", "pending"]
    assert first in [n.id for n in ledger.recent()]


def test_a_host_that_runs_a_forks_code_is_marked_before_the_code_runs(store: Store) -> None:
    fork = Plan(
        actions=(Assign(4, "i-00000004"), Deploy(4, "i-00000004", "d" * 40, "new assignment", "", True))
    )
    store.journal.record_intent(fork, NOW, None)
    assert store.journal.untrusted_hosts() == {"i-00000004": (4, "d" * 40, NOW)}, "marked with the intent"
    later = NOW + dt.timedelta(hours=1)
    store.journal.record_intent(
        Plan(actions=(Deploy(4, "i-00000004", "e" * 40, "new head", "", True),)), later, None
    )
    assert store.journal.untrusted_hosts() == {"i-00000004": (4, "e" * 40, NOW)}, (
        "the last commit, since the first"
    )
    assert [e.kind for e in store.events.recent()].count("host_untrusted") == 1
    store.journal.record_intent(
        Plan(actions=(Assign(5, "i-00000005"), Deploy(5, "i-00000005", "f" * 40, "x"))), NOW, None
    )
    assert "i-00000005" not in store.journal.untrusted_hosts(), "the repository's own PRs mark nothing"


@contextlib.contextmanager
def writes_to(store: Store, table: str) -> Iterator[list[str]]:
    """The statements that change ``table`` while the block runs."""
    from sqlalchemy import event

    written: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if table in statement and not statement.lstrip().upper().startswith("SELECT"):
            written.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        yield written
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)


def test_an_unchanged_night_of_sleep_writes_nothing_and_changes_are_kept(store: Store) -> None:
    from pullrekun.core.sleep import Rest, RestKind

    later = NOW + dt.timedelta(minutes=5)
    night = Rest(7, RestKind.OFF_HOURS, until=NOW + dt.timedelta(hours=12), text="sleeping until 09:00")
    store.journal.record_intent(Plan(resting=(night,)), NOW, None)
    with writes_to(store, "rests") as written:
        store.journal.record_intent(Plan(resting=(night,)), later, None)
        assert written == [], "the same rest again: no write to rests"
        idle = Rest(8, RestKind.IDLE, text="idle for 8 h")
        store.journal.record_intent(Plan(resting=(night, idle)), later, None)
        assert len(written) == 1, written
    rests = store.sleep.rests()
    assert (rests[7].since, rests[7].text) == (NOW, "sleeping until 09:00")
    assert rests[8].kind is RestKind.IDLE
    store.journal.record_intent(Plan(resting=(idle,)), later, None)
    assert set(store.sleep.rests()) == {8}
    assert [e.kind for e in store.events.recent() if e.kind in ("slept", "woke")] == [
        "woke",
        "slept",
        "slept",
    ]


def test_the_open_prs_are_written_only_where_they_changed(store: Store) -> None:
    from pullrekun.core.model import PullRequest
    from pullrekun.core.views import Phase, PullRequestView

    def view(number: int, detail: str) -> PullRequestView:
        pull = PullRequest(number, "b" * 40, NOW, author="sam", title=f"change {number}")
        return PullRequestView(pull, Phase.QUEUED, detail, NOW)

    store.pulls.record({1: view(1, "1st in line"), 2: view(2, "2nd in line")})
    with writes_to(store, "open_prs") as written:
        store.pulls.record({1: view(1, "1st in line"), 2: view(2, "2nd in line")})
        assert written == [], "the same PRs told the same: no write"
        store.pulls.record({2: view(2, "1st in line")})
        assert len(written) == 2, written  # PR 1 closed, PR 2 moved up
    (left,) = store.pulls.all()
    assert (left.number, left.detail, left.since) == (2, "1st in line", NOW)
