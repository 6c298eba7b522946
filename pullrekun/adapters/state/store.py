"""Reading and writing the state DB. Each method is one transaction.

The order of writes is what makes a pass safe to kill: the plan's intent (assignments,
"deploying") is committed before anything is applied, outcomes after. Whatever point a
pass dies at, the next pass observes a world the planner knows how to finish.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from pullrekun.adapters.state.schema import (
    ApprovalRow,
    AssignmentRow,
    DeploymentRow,
    EventRow,
    GitHubStateRow,
    HttpCacheRow,
    InstanceRequestRow,
    PRHeadRow,
    QueueRow,
    ReportRow,
    SchemaSourceRow,
    UntrustedHostRow,
)
from pullrekun.core.model import (
    Approval,
    Assign,
    Assignment,
    CloneSchema,
    Deploy,
    EnvStatus,
    ForgetApproval,
    ForgetInstanceRequest,
    ForgetResetLabel,
    InstanceRequest,
    InstanceWish,
    Plan,
    RecordApproval,
    Unassign,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest Alembic revision; a test checks it against the migrations folder.
HEAD_REVISION = "0009"


@dataclass(frozen=True)
class DeployOutcome:
    pr_number: int
    instance_id: str
    sha: str
    ok: bool
    failed_task: str | None = None
    message: str | None = None
    artifacts: str | None = None
    #: The schema clone planned with this deploy, when it succeeded.
    cloned: CloneSchema | None = None
    #: The step that failed (``pullrekun.core.steps.Step``), from the failing task's step tag.
    failed_step: str | None = None

    def redacted(self, redact: Callable[[str], str]) -> DeployOutcome:
        if self.message is None:
            return self
        return dataclasses.replace(self, message=fit(redact(self.message)))


@dataclass(frozen=True)
class EnvironmentRecord:
    """An assignment with the details ``status`` shows."""

    assignment: Assignment
    assigned_at: dt.datetime
    failed_task: str | None
    message: str | None
    artifacts: str | None
    db_schema: str | None = None
    db_cloned_at: dt.datetime | None = None
    failed_step: str | None = None
    title: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Reported:
    """What one channel was last told about one PR."""

    pr_number: int
    channel: str
    fingerprint: str
    sha: str | None
    github_id: int | None


@dataclass(frozen=True)
class CachedPage:
    etag: str
    body: str
    next_url: str | None


#: The longest message kept (MySQL's TEXT holds 64 KiB; one line of a PR's output can be longer).
MESSAGE_LIMIT = 16000


def fit(message: str) -> str:
    """A message cut to what a row keeps; the end (where the failure is) is kept."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    return f"… ({len(message) - MESSAGE_LIMIT} characters left out)\n{message[-MESSAGE_LIMIT:]}"


def _event(
    now: dt.datetime,
    kind: str,
    message: str,
    pr_number: int | None = None,
    instance_id: str | None = None,
    actor: str | None = None,
) -> EventRow:
    return EventRow(
        at=now,
        kind=kind,
        pr_number=pr_number,
        instance_id=instance_id,
        message=fit(message),
        actor=None if actor is None else actor[:100],
    )


_WISH_TEXT = {
    InstanceWish.RUNNING: "keep running while free",
    InstanceWish.RETIRE: "take out of the pool",
    InstanceWish.REGISTER: "tag into the pool",
}


def _private_sqlite_file(database: str | None) -> None:
    """An SQLite state file is created 0600: it holds what pullrekun knows about every environment."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _private_sqlite_file(parsed.database)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_recycle=3600)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision.

    Alembic is imported only when the schema is behind: a pass that finds it current
    (every pass but the first after an upgrade) pays one SELECT, not Alembic's import.
    """
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _unchanged(text: str) -> str:
    return text


class Store:
    """``redact`` is applied to every message the store writes (failures, events): what a failed
    task printed may hold a secret, and the state DB is read by ``status``, pages and reports."""

    def __init__(self, engine: Engine, redact: Callable[[str], str] = _unchanged) -> None:
        self.engine = engine
        self.redact = redact
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, redact: Callable[[str], str] = _unchanged) -> Store:
        engine = make_engine(url)
        migrate(engine)
        return cls(engine, redact)

    def redacting(self, redact: Callable[[str], str]) -> Store:
        """This store (same engine), writing its messages through ``redact``."""
        return Store(self.engine, redact)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return self._session()

    # --- reading ----------------------------------------------------------------

    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(r.assignment for r in self.environments())

    def environments(self) -> tuple[EnvironmentRecord, ...]:
        with self.session() as s:
            rows = s.scalars(select(AssignmentRow).order_by(AssignmentRow.pr_number)).all()
            return tuple(
                EnvironmentRecord(
                    Assignment(
                        r.pr_number,
                        r.instance_id,
                        EnvStatus(r.status),
                        r.deployed_sha,
                        r.since,
                        db_source=r.db_source,
                        db_reset_requested=bool(r.db_reset_requested),
                        redeploy_requested=bool(r.redeploy_requested),
                        asleep=bool(r.asleep),
                        db_reset_seen=bool(r.db_reset_seen),
                        db_nonce=r.db_nonce,
                    ),
                    r.assigned_at,
                    r.failed_task,
                    r.message,
                    r.artifacts,
                    r.db_schema,
                    r.db_cloned_at,
                    r.failed_step,
                    r.pr_title,
                    r.pr_author,
                )
                for r in rows
            )

    def note_pull_requests(self, details: Mapping[int, tuple[str, str]]) -> None:
        """Keep each held PR's (title, author) as GitHub last said, for the dashboard."""
        with self.session() as s, s.begin():
            for row in s.scalars(select(AssignmentRow).where(AssignmentRow.pr_number.in_(list(details)))):
                title, author = details[row.pr_number]
                title, author = title[:256], author[:39]
                if (row.pr_title, row.pr_author) != (title, author):
                    row.pr_title, row.pr_author = title, author

    def approvals(self) -> tuple[Approval, ...]:
        with self.session() as s:
            rows = s.scalars(select(ApprovalRow).order_by(ApprovalRow.pr_number)).all()
            return tuple(Approval(r.pr_number, r.sha) for r in rows)

    def note_heads(self, heads: Mapping[int, str], now: dt.datetime) -> dict[int, dt.datetime]:
        """When each PR's current head was first seen (now, for a head not seen before); PRs not
        in ``heads`` are forgotten."""
        seen: dict[int, dt.datetime] = {}
        with self.session() as s, s.begin():
            rows = {r.pr_number: r for r in s.scalars(select(PRHeadRow)).all()}
            for number, gone in rows.items():
                if number not in heads:
                    s.delete(gone)
            for number, sha in heads.items():
                row = rows.get(number)
                if row is None:
                    s.add(PRHeadRow(pr_number=number, sha=sha, seen_at=now))
                elif row.sha != sha:
                    row.sha, row.seen_at = sha, now
                seen[number] = now if row is None else row.seen_at
        return seen

    def queue(self) -> tuple[tuple[int, int, dt.datetime], ...]:
        with self.session() as s:
            rows = s.scalars(select(QueueRow).order_by(QueueRow.position)).all()
            return tuple((r.pr_number, r.position, r.since) for r in rows)

    def events(self, limit: int = 50) -> tuple[EventRow, ...]:
        with self.session() as s:
            return tuple(s.scalars(select(EventRow).order_by(EventRow.id.desc()).limit(limit)).all())

    def deployments(self, pr_number: int | None = None) -> tuple[DeploymentRow, ...]:
        with self.session() as s:
            q = select(DeploymentRow).order_by(DeploymentRow.id)
            if pr_number is not None:
                q = q.where(DeploymentRow.pr_number == pr_number)
            return tuple(s.scalars(q).all())

    def last_deployments(self) -> dict[str, DeploymentRow]:
        """Each instance's latest deployment (the pool table's "last deploy")."""
        with self.session() as s:
            latest = select(func.max(DeploymentRow.id)).group_by(DeploymentRow.instance_id)
            rows = s.scalars(select(DeploymentRow).where(DeploymentRow.id.in_(latest))).all()
            return {r.instance_id: r for r in rows}

    # --- writing ----------------------------------------------------------------

    def record_intent(self, plan: Plan, now: dt.datetime, artifacts: str | None) -> dict[int, int]:
        """Commit what the pass is about to do; returns deployment ids by PR number."""
        deployment_ids: dict[int, int] = {}
        with self.session() as s, s.begin():
            for action in plan.of_type(Unassign):
                s.execute(delete(AssignmentRow).where(AssignmentRow.pr_number == action.pr_number))
                s.add(_event(now, "unassigned", action.reason, action.pr_number, action.instance_id))
            s.flush()
            for assign in plan.of_type(Assign):
                s.add(
                    AssignmentRow(
                        pr_number=assign.pr_number,
                        instance_id=assign.instance_id,
                        status=EnvStatus.ASSIGNED,
                        deployed_sha=None,
                        assigned_at=now,
                        since=now,
                    )
                )
                s.add(_event(now, "assigned", "instance assigned", assign.pr_number, assign.instance_id))
            s.flush()
            for deploy in plan.of_type(Deploy):
                row = s.get(AssignmentRow, deploy.pr_number)
                assert row is not None, "a deploy always follows an assignment"
                row.status = EnvStatus.DEPLOYING
                row.since = now
                if deploy.untrusted:
                    self._mark_untrusted(s, deploy.instance_id, deploy.pr_number, deploy.sha, now)
                dep = DeploymentRow(
                    pr_number=deploy.pr_number,
                    instance_id=deploy.instance_id,
                    sha=deploy.sha,
                    reason=deploy.reason,
                    status="running",
                    started_at=now,
                    artifacts=artifacts,
                )
                s.add(dep)
                s.flush()
                deployment_ids[deploy.pr_number] = dep.id
            for approval in plan.of_type(RecordApproval):
                s.merge(ApprovalRow(pr_number=approval.pr_number, sha=approval.sha, approved_at=now))
                s.add(_event(now, "approved", f"fork PR approved at {approval.sha}", approval.pr_number))
            for gone in plan.of_type(ForgetApproval):
                s.execute(delete(ApprovalRow).where(ApprovalRow.pr_number == gone.pr_number))
            for answered in plan.of_type(ForgetInstanceRequest):
                s.execute(
                    delete(InstanceRequestRow).where(InstanceRequestRow.instance_id == answered.instance_id)
                )
                s.add(_event(now, "request_closed", answered.reason, None, answered.instance_id))
            for forget in plan.of_type(ForgetResetLabel):
                row = s.get(AssignmentRow, forget.pr_number)
                if row is not None:
                    row.db_reset_seen = False
            old_queue = {r.pr_number: r.since for r in s.scalars(select(QueueRow))}
            s.execute(delete(QueueRow))
            for q in plan.queue:
                s.add(
                    QueueRow(
                        pr_number=q.pr_number, position=q.position, since=old_queue.get(q.pr_number, now)
                    )
                )
        return deployment_ids

    @staticmethod
    def _mark_untrusted(s: Session, instance_id: str, pr_number: int, sha: str, now: dt.datetime) -> None:
        row = s.get(UntrustedHostRow, instance_id)
        if row is None:
            row = UntrustedHostRow(instance_id=instance_id, first_at=now)
            s.add(row)
            s.add(
                _event(
                    now, "host_untrusted", "runs code of a PR not trusted by default", pr_number, instance_id
                )
            )
        row.pr_number, row.sha, row.last_at = pr_number, sha, now

    def untrusted_hosts(self) -> dict[str, tuple[int, str, dt.datetime]]:
        """Instances that ran code of a PR not trusted by default: (last such PR, its sha, since)."""
        with self.session() as s:
            rows = s.scalars(select(UntrustedHostRow)).all()
            return {r.instance_id: (r.pr_number, r.sha, r.first_at) for r in rows}

    def record_outcomes(
        self, outcomes: Iterable[DeployOutcome], deployment_ids: Mapping[int, int], now: dt.datetime
    ) -> None:
        with self.session() as s, s.begin():
            for out in (o.redacted(self.redact) for o in outcomes):
                row = s.get(AssignmentRow, out.pr_number)
                if row is not None and row.instance_id == out.instance_id:
                    row.status = EnvStatus.READY if out.ok else EnvStatus.FAILED
                    row.since = now
                    row.deployed_sha = out.sha if out.ok else row.deployed_sha
                    row.failed_task, row.message = out.failed_task, out.message
                    row.failed_step = out.failed_step
                    row.artifacts = out.artifacts
                    row.redeploy_requested = False  # answered, whatever came of it
                    if out.cloned is not None:
                        row.db_schema, row.db_source = out.cloned.target, out.cloned.source
                        row.db_nonce = out.cloned.nonce or None
                        row.db_cloned_at = now
                        row.db_reset_requested = False
                        row.db_reset_seen = out.cloned.reset_label
                        s.add(
                            _event(
                                now,
                                "schema_cloned",
                                f"{out.cloned.source} -> {out.cloned.target} ({out.cloned.reason})",
                                out.pr_number,
                                out.instance_id,
                            )
                        )
                dep_id = deployment_ids.get(out.pr_number)
                dep = s.get(DeploymentRow, dep_id) if dep_id is not None else None
                if dep is not None:
                    dep.status = "success" if out.ok else "failed"
                    dep.finished_at = now
                    dep.failed_task, dep.message = out.failed_task, out.message
                    dep.failed_step = out.failed_step
                if not out.ok:
                    s.add(
                        _event(
                            now,
                            "deploy_failed",
                            f"{out.failed_task}: {out.message}",
                            out.pr_number,
                            out.instance_id,
                        )
                    )

    def request_reset(self, pr_number: int, now: dt.datetime, actor: str | None = None) -> bool:
        """Ask the next pass for a fresh clone of the PR's schema; False if it holds no instance."""
        with self.session() as s, s.begin():
            row = s.get(AssignmentRow, pr_number)
            if row is None:
                return False
            row.db_reset_requested = True
            message = "fresh copy of the schema"
            s.add(_event(now, "reset_requested", message, pr_number, row.instance_id, actor))
            return True

    def request_sleep(self, pr_number: int, asleep: bool, now: dt.datetime, actor: str | None = None) -> bool:
        """Ask the next pass to stop the PR's instance and keep it stopped (or to wake it up);
        False if the PR holds no instance."""
        with self.session() as s, s.begin():
            row = s.get(AssignmentRow, pr_number)
            if row is None:
                return False
            row.asleep = asleep
            kind, message = (
                ("stop_requested", "stop until woken") if asleep else ("wake_requested", "wake up")
            )
            s.add(_event(now, kind, message, pr_number, row.instance_id, actor))
            return True

    def request_redeploy(self, pr_number: int, now: dt.datetime, actor: str | None = None) -> bool:
        """Ask the next pass to deploy the PR's commit again; False if it holds no instance."""
        with self.session() as s, s.begin():
            row = s.get(AssignmentRow, pr_number)
            if row is None:
                return False
            row.redeploy_requested = True
            s.add(_event(now, "redeploy_requested", "deploy again", pr_number, row.instance_id, actor))
            return True

    # --- the pool and the schema table, as people asked -----------------------------

    def instance_requests(self) -> tuple[InstanceRequest, ...]:
        with self.session() as s:
            rows = s.scalars(select(InstanceRequestRow).order_by(InstanceRequestRow.instance_id))
            return tuple(InstanceRequest(r.instance_id, InstanceWish(r.wish), r.actor) for r in rows)

    def request_instance(
        self, instance_id: str, wish: InstanceWish | None, now: dt.datetime, actor: str | None = None
    ) -> None:
        """Record what ``actor`` wants of an instance (None: no wish any more, e.g. let a free
        instance be stopped); the next pass's planner decides what that takes."""
        with self.session() as s, s.begin():
            row = s.get(InstanceRequestRow, instance_id)
            if wish is None:
                if row is not None:
                    s.delete(row)
                s.add(_event(now, "stop_requested", "no longer kept running", None, instance_id, actor))
                return
            if row is None:
                row = InstanceRequestRow(instance_id=instance_id)
                s.add(row)
            row.wish, row.actor, row.requested_at = wish.value, actor, now
            s.add(_event(now, f"{wish.value}_requested", _WISH_TEXT[wish], None, instance_id, actor))

    def close_instance_request(
        self, instance_id: str, kind: str, message: str, now: dt.datetime, actor: str | None = None
    ) -> None:
        """A pass carried out (or gave up on) a registration or retirement: say so, forget the wish."""
        with self.session() as s, s.begin():
            s.execute(delete(InstanceRequestRow).where(InstanceRequestRow.instance_id == instance_id))
            s.add(_event(now, kind, self.redact(message), None, instance_id, actor))

    def schema_sources(self) -> tuple[tuple[str, str, str | None, dt.datetime], ...]:
        """The dashboard's edits of the developer -> schema table: (login, schema, who, when)."""
        with self.session() as s:
            rows = s.scalars(select(SchemaSourceRow).order_by(SchemaSourceRow.login))
            return tuple((r.login, r.schema_name, r.actor, r.updated_at) for r in rows)

    def edited_authors(self) -> dict[str, str]:
        """The dashboard's edits of the developer -> schema table, login -> schema."""
        return {login: schema for login, schema, _, _ in self.schema_sources()}

    def set_schema_source(
        self, login: str, schema: str | None, now: dt.datetime, actor: str | None = None
    ) -> None:
        """Set a developer's schema (None: back to the config's value, if any)."""
        key = login.lower()
        with self.session() as s, s.begin():
            row = s.get(SchemaSourceRow, key)
            if schema is None:
                if row is not None:
                    s.delete(row)
                s.add(_event(now, "schema_table", f"{key}: back to the config's schema", actor=actor))
                return
            if row is None:
                row = SchemaSourceRow(login=key)
                s.add(row)
            row.schema_name, row.actor, row.updated_at = schema, actor, now
            s.add(_event(now, "schema_table", f"{key} -> {schema}", actor=actor))

    def add_event(
        self,
        now: dt.datetime,
        kind: str,
        message: str,
        pr_number: int | None = None,
        instance_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        with self.session() as s, s.begin():
            s.add(_event(now, kind, self.redact(message), pr_number, instance_id, actor))

    # --- conditional-request cache ------------------------------------------------

    def cached_page(self, key: str) -> CachedPage | None:
        with self.session() as s:
            row = s.get(HttpCacheRow, key)
            return None if row is None else CachedPage(row.etag, row.body, row.next_url)

    def store_page(self, key: str, page: CachedPage, now: dt.datetime) -> None:
        with self.session() as s, s.begin():
            row = s.get(HttpCacheRow, key)
            if row is None:
                s.add(
                    HttpCacheRow(
                        key=key, etag=page.etag, body=page.body, next_url=page.next_url, fetched_at=now
                    )
                )
            else:
                row.etag, row.body, row.next_url, row.fetched_at = (page.etag, page.body, page.next_url, now)

    # --- what GitHub and the chat webhooks were last told ---------------------------

    def reported(self) -> dict[tuple[int, str], Reported]:
        with self.session() as s:
            return {
                (r.pr_number, r.channel): Reported(r.pr_number, r.channel, r.fingerprint, r.sha, r.github_id)
                for r in s.scalars(select(ReportRow))
            }

    def save_report(self, rep: Reported, now: dt.datetime) -> None:
        with self.session() as s, s.begin():
            s.merge(
                ReportRow(
                    pr_number=rep.pr_number,
                    channel=rep.channel,
                    fingerprint=rep.fingerprint,
                    sha=rep.sha,
                    github_id=rep.github_id,
                    updated_at=now,
                )
            )

    def forget_reports(self, pr_number: int) -> None:
        with self.session() as s, s.begin():
            s.execute(delete(ReportRow).where(ReportRow.pr_number == pr_number))

    def github_state(self) -> dict[str, str]:
        with self.session() as s:
            return {r.key: r.value for r in s.scalars(select(GitHubStateRow))}

    def set_github_state(self, values: Mapping[str, str | None], now: dt.datetime) -> None:
        """Set (or, with None, delete) GitHub facts in one transaction."""
        with self.session() as s, s.begin():
            for key, value in values.items():
                if value is None:
                    s.execute(delete(GitHubStateRow).where(GitHubStateRow.key == key))
                else:
                    s.merge(GitHubStateRow(key=key, value=value, updated_at=now))
