"""The state DB's tables for sleep, cost and developers' servers (pullrekun.core.sleep, .cost,
.servers). Changes go through Alembic, like pullrekun/adapters/state/schema.py's."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from pullrekun.adapters.state.schema import Base, UTCDateTime


class ActivityRow(Base):
    """What the sleep rules know of one open PR (pullrekun.core.sleep.Activity)."""

    __tablename__ = "activity"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    active_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    head_sha: Mapped[str] = mapped_column(String(40), default="", server_default="")
    woken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    pinned_by: Mapped[str | None] = mapped_column(String(100))
    pinned_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    gave_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    asleep: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RestRow(Base):
    """An environment asleep as the last pass left it (for ``status`` and the dashboard)."""

    __tablename__ = "rests"

    pr_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(String(300))
    without_instance: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UsageRow(Base):
    """One running stretch of a pool instance, for the PR that held it (None: free), as passes
    observed EC2's states: opened at EC2's LaunchTime, closed when a pass sees it not running."""

    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(32), index=True)
    pr_number: Mapped[int | None] = mapped_column(Integer, index=True)
    instance_type: Mapped[str] = mapped_column(String(32), default="", server_default="")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)


class BudgetLiftRow(Base):
    """An admin lifted the monthly budget for one month ("2026-12")."""

    __tablename__ = "budget_lifts"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    actor: Mapped[str | None] = mapped_column(String(100))
    lifted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ServerSwitchRow(Base):
    """A developer server on a schedule: the last schedule change acted on, and a *Start now* /
    *Stop now* asked for (until the schedule's next change)."""

    __tablename__ = "server_switches"

    instance_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    handled: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    wish: Mapped[str | None] = mapped_column(String(8))
    wish_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
