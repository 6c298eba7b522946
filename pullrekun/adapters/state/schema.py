"""The state DB's tables (SQLAlchemy 2). Changes go through Alembic: pullrekun/migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String, Text, TypeDecorator, false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and MySQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state DB")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


LongText = Text().with_variant(Text(length=2**32 - 1), "mysql")


class Base(DeclarativeBase):
    pass


class AssignmentRow(Base):
    """One pool instance held by one PR (its environment); the unique instance_id rules out double-booking."""

    __tablename__ = "assignments"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    instance_id: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    deployed_sha: Mapped[str | None] = mapped_column(String(40))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    failed_task: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    artifacts: Mapped[str | None] = mapped_column(Text)
    db_schema: Mapped[str | None] = mapped_column(String(64))
    db_source: Mapped[str | None] = mapped_column(String(64))
    db_cloned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    db_reset_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    db_reset_seen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Someone asked for a deploy of the same commit (the dashboard's "redeploy").
    redeploy_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Stopped on request (the dashboard's "stop"): the instance stays the PR's, stopped, until woken.
    asleep: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The PR's title and author as the last pass read them (shown on the dashboard; escaped there).
    pr_title: Mapped[str | None] = mapped_column(String(256))
    pr_author: Mapped[str | None] = mapped_column(String(39))
    #: The nonce the environment's database password derives from (pullrekun.core.dbusers): set
    #: by each successful clone, so each owner of a schema has a password of its own.
    db_nonce: Mapped[str | None] = mapped_column(String(32))
    #: The PR's own settings its environment last got (JSON pairs), set by a successful deploy.
    settings: Mapped[str | None] = mapped_column(Text)
    #: What its migrations changed in its schema against the source (JSON lines; None: not compared).
    schema_changes: Mapped[str | None] = mapped_column(Text)


class DeploymentRow(Base):
    """Every deploy attempt, kept as history."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pr_number: Mapped[int] = mapped_column(Integer, index=True)
    instance_id: Mapped[str] = mapped_column(String(32))
    sha: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_task: Mapped[str | None] = mapped_column(Text)
    failed_step: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    artifacts: Mapped[str | None] = mapped_column(Text)


class EventRow(Base):
    """Things an operator wants to read later: requeues, stops, GitHub trouble."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    pr_number: Mapped[int | None] = mapped_column(Integer)
    instance_id: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    #: Who asked for it ("local:alice", "github:bob", "cli:root"); None: pullrekun itself.
    actor: Mapped[str | None] = mapped_column(String(100))


class QueueRow(Base):
    """The queue as the last pass left it (for ``status``)."""

    __tablename__ = "queue"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class HttpCacheRow(Base):
    """Conditional-request cache: the ETag and body of each GitHub page read."""

    __tablename__ = "http_cache"

    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    etag: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(LongText)
    next_url: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ApprovalRow(Base):
    """A fork PR's approval label, bound to the head commit it was first seen on."""

    __tablename__ = "approvals"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha: Mapped[str] = mapped_column(String(40))
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PRHeadRow(Base):
    """When pullrekun first saw a fork PR's head commit."""

    __tablename__ = "pr_heads"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha: Mapped[str] = mapped_column(String(40))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ReportRow(Base):
    """What was last told to one channel (status, deployment, comment, notify) about one PR.

    ``fingerprint`` is a hash of what was sent: an unchanged state is not sent again.
    ``github_id`` is the check run, deployment or comment to update in place.
    """

    __tablename__ = "reports"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    sha: Mapped[str | None] = mapped_column(String(40))
    github_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class GitHubStateRow(Base):
    """Small facts about GitHub kept between passes: rate limit, back-off, the App token."""

    __tablename__ = "github_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ReleaseFactRow(Base):
    """What the release notices keep between passes: production's last read (sha, when, why
    not) and the draft release (its id, what it was last written from)."""

    __tablename__ = "release_facts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class InstanceRequestRow(Base):
    """What someone asked of one instance (keep it running, retire it, register it): one wish each."""

    __tablename__ = "instance_requests"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    wish: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SchemaSourceRow(Base):
    """A developer's schema as edited on the dashboard; it overrides ``[database.authors]``."""

    __tablename__ = "schema_sources"

    #: The GitHub login, lower-cased (logins are case-insensitive).
    login: Mapped[str] = mapped_column(String(39), primary_key=True)
    schema_name: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class NoticeRow(Base):
    """A release notice: a production move seen (first, release, rollback, unlinked) or a
    waiting-for-release notice asked for (pending). Written before any send (see NoticeSendRow)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    previous_sha: Mapped[str | None] = mapped_column(String(40))
    sha: Mapped[str | None] = mapped_column(String(40))
    #: The message as sent (every channel gets the same text); None until rendered.
    text: Mapped[str | None] = mapped_column(LongText)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    #: Who asked (a pending notice from the dashboard, the CLI, the schedule); None for a pass's own.
    actor: Mapped[str | None] = mapped_column(String(100))
    #: The schedule's time a scheduled waiting-for-release notice is for.
    slot: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class NoticeSendRow(Base):
    """One notice to one chat channel: pending -> sending -> sent. A pass that dies while
    ``sending`` leaves it so; the next one resends it only where a resend cannot duplicate it
    (Google Chat's message id), else marks it ``unknown`` (said in ``status``, never resent)."""

    __tablename__ = "notice_sends"

    notice_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SchemaDropRow(Base):
    """A closed environment's schema to drop (``on_close = "drop"``): recorded with the intent of
    the pass that unassigned it, forgotten once dropped, so a pass killed before its playbook run
    leaves the drop to the next one."""

    __tablename__ = "schema_drops"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    schema_name: Mapped[str] = mapped_column(String(64))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class UntrustedHostRow(Base):
    """An instance that ran code of a PR not trusted by default (a fork): written before that
    code runs, kept while the instance is in pullrekun's care (a wipe at each hand-over is what
    it gets; a root exploit on it is not undone by that)."""

    __tablename__ = "untrusted_hosts"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The last such PR, and the commit deployed for it.
    pr_number: Mapped[int] = mapped_column(Integer)
    sha: Mapped[str] = mapped_column(String(40))
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """A dashboard session: the cookie carries its id, this row its SHA-256 (a copy of the state
    DB holds no usable session). Signing out deletes it; a copied cookie dies with it."""

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: "local:alice" or "github:bob"; the role is decided at each request, never stored.
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LaunchRow(Base):
    """One launch pullrekun asked EC2 for: written with the intent of the pass that asks (its
    client token first), then the instance it gave, its bootstrap, its idle time and its end.
    Terminated launches stay as history (the pool table's "why")."""

    __tablename__ = "launches"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    #: The first PR it was launched for (None: for ec2.min_size, or asked by someone).
    for_pr: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    instance_id: Mapped[str | None] = mapped_column(String(32), index=True)
    failure: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    bootstrapped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    served: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    idle_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    protected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(200))


class LaunchRequestRow(Base):
    """Someone asked for one more instance (the dashboard's *Launch one*, the API): the next pass
    launches it if the pool has room, or says why not."""

    __tablename__ = "launch_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str | None] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class OpenPRRow(Base):
    """Every open PR as the last pass told its people (the dashboard lists them all: a PR with no
    environment says why, and what would change that)."""

    __tablename__ = "open_prs"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(256), default="", server_default="")
    author: Mapped[str] = mapped_column(String(39), default="", server_default="")
    sha: Mapped[str] = mapped_column(String(40))
    #: queued, skipped, deploying, ready, failed, asleep (pullrekun.core.views.Phase).
    phase: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The test scenario from its description (None: it has none).
    scenario: Mapped[str | None] = mapped_column(Text)


class SignOffRow(Base):
    """A sign-off on a preview: the commit its environment served, who, and what they found."""

    __tablename__ = "signoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pr_number: Mapped[int] = mapped_column(Integer, index=True)
    sha: Mapped[str] = mapped_column(String(40))
    ok: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(300), default="", server_default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PRSettingRow(Base):
    """A PR's own setting ([app] pr_settings) as someone set it on the dashboard."""

    __tablename__ = "pr_settings"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
