"""The journal: what each environment is, and what a pass intends and achieved.

The order of writes is what makes a pass safe to kill: the plan's intent (assignments,
"deploying") is committed before anything is applied, outcomes after. Whatever point a
pass dies at, the next pass observes a world the planner knows how to finish.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pullrekun.adapters.state.engine import Database, event_row, fit
from pullrekun.adapters.state.fleet import record_fleet_intent
from pullrekun.adapters.state.schema import (
    ApprovalRow,
    AssignmentRow,
    DeploymentRow,
    InstanceRequestRow,
    PRHeadRow,
    QueueRow,
    SchemaDropRow,
    UntrustedHostRow,
)
from pullrekun.adapters.state.servers import record_server_intent
from pullrekun.adapters.state.sleep import record_sleep_intent, set_aside
from pullrekun.core.model import (
    Approval,
    Assign,
    Assignment,
    CloneSchema,
    Deploy,
    DropSchema,
    EnvStatus,
    ForgetApproval,
    ForgetInstanceRequest,
    ForgetResetLabel,
    ForgetSchemaDrop,
    Plan,
    RecordApproval,
    Unassign,
)


def settings_of(text: str | None) -> tuple[tuple[str, str], ...]:
    """The settings an environment last got, as recorded (JSON pairs; none before any)."""
    if not text:
        return ()
    return tuple((str(n), str(v)) for n, v in json.loads(text))


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
    #: The PR's own settings the deploy gave its app.env (recorded when it succeeded).
    settings: tuple[tuple[str, str], ...] = ()
    #: What its migrations changed in its schema against the source (None: not compared).
    schema_changes: tuple[str, ...] | None = None

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
    #: What its migrations changed in its schema (None: not compared yet).
    schema_changes: tuple[str, ...] | None = None


def _record_heads(s: Session, heads: Mapping[int, tuple[str, dt.datetime]] | None) -> None:
    if heads is None:
        return
    rows = {r.pr_number: r for r in s.scalars(select(PRHeadRow)).all()}
    for number, gone in rows.items():
        if number not in heads:
            s.delete(gone)
    for number, (sha, seen_at) in heads.items():
        row = rows.get(number)
        if row is None:
            s.add(PRHeadRow(pr_number=number, sha=sha, seen_at=seen_at))
        elif row.sha != sha:
            row.sha, row.seen_at = sha, seen_at


def _record_details(s: Session, details: Mapping[int, tuple[str, str]] | None) -> None:
    """Keep each held PR's (title, author) as GitHub last said, for the dashboard."""
    if not details:
        return
    for row in s.scalars(select(AssignmentRow).where(AssignmentRow.pr_number.in_(list(details)))):
        title, author = details[row.pr_number]
        title, author = title[:256], author[:39]
        if (row.pr_title, row.pr_author) != (title, author):
            row.pr_title, row.pr_author = title, author


def _record_records(s: Session, plan: Plan, now: dt.datetime) -> None:
    """The actions whose whole effect is a record: approvals, answered requests, schema drops
    (recorded before the run that drops them, forgotten when moot), reset labels, and the
    launches (recorded before the call that makes them)."""
    for approval in plan.of_type(RecordApproval):
        s.merge(ApprovalRow(pr_number=approval.pr_number, sha=approval.sha, approved_at=now))
        s.add(event_row(now, "approved", f"fork PR approved at {approval.sha}", approval.pr_number))
    for gone in plan.of_type(ForgetApproval):
        s.execute(delete(ApprovalRow).where(ApprovalRow.pr_number == gone.pr_number))
    for answered in plan.of_type(ForgetInstanceRequest):
        s.execute(delete(InstanceRequestRow).where(InstanceRequestRow.instance_id == answered.instance_id))
        s.add(event_row(now, "request_closed", answered.reason, None, answered.instance_id))
    for drop in plan.of_type(DropSchema):
        s.merge(SchemaDropRow(instance_id=drop.instance_id, schema_name=drop.schema, since=now))
    for moot in plan.of_type(ForgetSchemaDrop):
        s.execute(delete(SchemaDropRow).where(SchemaDropRow.instance_id == moot.instance_id))
        s.add(event_row(now, "schema_drop_forgotten", moot.reason, None, moot.instance_id))
    for forget in plan.of_type(ForgetResetLabel):
        row = s.get(AssignmentRow, forget.pr_number)
        if row is not None:
            row.db_reset_seen = False
    record_fleet_intent(s, plan, now)
    record_server_intent(s, plan, now)


class Journal:
    def __init__(self, db: Database) -> None:
        self._db = db

    def assignments(self) -> tuple[Assignment, ...]:
        return tuple(r.assignment for r in self.environments())

    def environments(self) -> tuple[EnvironmentRecord, ...]:
        with self._db.session() as s:
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
                        settings=settings_of(r.settings),
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
                    tuple(json.loads(r.schema_changes)) if r.schema_changes else None,
                )
                for r in rows
            )

    def approvals(self) -> tuple[Approval, ...]:
        with self._db.session() as s:
            rows = s.scalars(select(ApprovalRow).order_by(ApprovalRow.pr_number)).all()
            return tuple(Approval(r.pr_number, r.sha) for r in rows)

    def head_sightings(self) -> dict[int, tuple[str, dt.datetime]]:
        """Fork PRs' heads as last recorded: PR -> (sha, when that head was first seen)."""
        with self._db.session() as s:
            return {r.pr_number: (r.sha, r.seen_at) for r in s.scalars(select(PRHeadRow))}

    def queue(self) -> tuple[tuple[int, int, dt.datetime], ...]:
        with self._db.session() as s:
            rows = s.scalars(select(QueueRow).order_by(QueueRow.position)).all()
            return tuple((r.pr_number, r.position, r.since) for r in rows)

    def deployments(self, pr_number: int | None = None) -> tuple[DeploymentRow, ...]:
        with self._db.session() as s:
            q = select(DeploymentRow).order_by(DeploymentRow.id)
            if pr_number is not None:
                q = q.where(DeploymentRow.pr_number == pr_number)
            return tuple(s.scalars(q).all())

    def durations(self, reason: str, limit: int = 10) -> tuple[float, ...]:
        """Seconds the newest successful deploys for ``reason`` took ("instance was stopped": wakes)."""
        with self._db.session() as s:
            rows = s.scalars(
                select(DeploymentRow)
                .where(DeploymentRow.reason == reason, DeploymentRow.status == "success")
                .order_by(DeploymentRow.id.desc())
                .limit(limit)
            ).all()
            return tuple((r.finished_at - r.started_at).total_seconds() for r in rows if r.finished_at)

    def last_deployments(self) -> dict[str, DeploymentRow]:
        """Each instance's latest deployment (the pool table's "last deploy")."""
        with self._db.session() as s:
            latest = select(func.max(DeploymentRow.id)).group_by(DeploymentRow.instance_id)
            rows = s.scalars(select(DeploymentRow).where(DeploymentRow.id.in_(latest))).all()
            return {r.instance_id: r for r in rows}

    def record_intent(
        self,
        plan: Plan,
        now: dt.datetime,
        artifacts: str | None,
        *,
        details: Mapping[int, tuple[str, str]] | None = None,
        heads: Mapping[int, tuple[str, dt.datetime]] | None = None,
    ) -> dict[int, int]:
        """Commit what the pass is about to do, in one transaction; returns deployment ids by PR.

        The actions carried out by the state alone (see :mod:`pullrekun.app.dispatch`) are done
        here. ``details``: each PR's (title, author) as GitHub said; ``heads``: the fork PRs'
        heads with their first sighting (PRs left out are forgotten).
        """
        deployment_ids: dict[int, int] = {}
        with self._db.session() as s, s.begin():
            _record_heads(s, heads)
            for action in plan.of_type(Unassign):
                if action.set_aside:
                    set_aside(s, action, now)
                s.execute(delete(AssignmentRow).where(AssignmentRow.pr_number == action.pr_number))
                s.add(event_row(now, "unassigned", action.reason, action.pr_number, action.instance_id))
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
                s.add(event_row(now, "assigned", "instance assigned", assign.pr_number, assign.instance_id))
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
            _record_records(s, plan, now)
            _record_details(s, details)
            record_sleep_intent(s, plan, now, None if details is None else set(details))
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
                event_row(
                    now, "host_untrusted", "runs code of a PR not trusted by default", pr_number, instance_id
                )
            )
        row.pr_number, row.sha, row.last_at = pr_number, sha, now

    def schema_drops(self) -> dict[str, str]:
        """Schemas still to drop, by instance (recorded with a pass's intent)."""
        with self._db.session() as s:
            return {r.instance_id: r.schema_name for r in s.scalars(select(SchemaDropRow))}

    def schema_drops_since(self) -> tuple[tuple[str, str, dt.datetime], ...]:
        """Schemas still to drop: (instance, schema, recorded when), by instance."""
        with self._db.session() as s:
            rows = s.scalars(select(SchemaDropRow).order_by(SchemaDropRow.instance_id))
            return tuple((r.instance_id, r.schema_name, r.since) for r in rows)

    def schema_dropped(self, done: Mapping[str, str], now: dt.datetime) -> None:
        """The playbook dropped these schemas (instance -> schema): forget them, say so."""
        if not done:
            return
        with self._db.session() as s, s.begin():
            for iid, schema in done.items():
                s.execute(delete(SchemaDropRow).where(SchemaDropRow.instance_id == iid))
                s.add(event_row(now, "schema_dropped", f"{schema} dropped (on_close = drop)", None, iid))

    def untrusted_hosts(self) -> dict[str, tuple[int, str, dt.datetime]]:
        """Instances that ran code of a PR not trusted by default: (last such PR, its sha, since)."""
        with self._db.session() as s:
            rows = s.scalars(select(UntrustedHostRow)).all()
            return {r.instance_id: (r.pr_number, r.sha, r.first_at) for r in rows}

    def record_outcomes(
        self, outcomes: Iterable[DeployOutcome], deployment_ids: Mapping[int, int], now: dt.datetime
    ) -> None:
        with self._db.session() as s, s.begin():
            for out in (o.redacted(self._db.redact) for o in outcomes):
                row = s.get(AssignmentRow, out.pr_number)
                if row is not None and row.instance_id == out.instance_id:
                    row.status = EnvStatus.READY if out.ok else EnvStatus.FAILED
                    row.since = now
                    row.deployed_sha = out.sha if out.ok else row.deployed_sha
                    if out.ok:
                        row.settings = json.dumps([list(pair) for pair in out.settings])
                    if out.schema_changes is not None:
                        row.schema_changes = json.dumps(list(out.schema_changes))
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
                            event_row(
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
                        event_row(
                            now,
                            "deploy_failed",
                            f"{out.failed_task}: {out.message}",
                            out.pr_number,
                            out.instance_id,
                        )
                    )
