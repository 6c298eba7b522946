"""Sleep and cost: each PR's activity (idle clock, wakes, pins), the environments asleep as the
last pass left them, instances' running stretches (cost), budget lifts, and the developer
servers' schedule switches.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("active_at", UTCDateTime(), nullable=False),
        sa.Column("head_sha", sa.String(40), nullable=False, server_default=""),
        sa.Column("woken_at", UTCDateTime(), nullable=True),
        sa.Column("pinned_by", sa.String(100), nullable=True),
        sa.Column("pinned_until", UTCDateTime(), nullable=True),
        sa.Column("gave_up_at", UTCDateTime(), nullable=True),
        sa.Column("asleep", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "rests",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("text", sa.String(300), nullable=False),
        sa.Column("without_instance", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.String(32), nullable=False, index=True),
        sa.Column("pr_number", sa.Integer(), nullable=True, index=True),
        sa.Column("instance_type", sa.String(32), nullable=False, server_default=""),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True, index=True),
    )
    op.create_table(
        "budget_lifts",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("lifted_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "server_switches",
        sa.Column("instance_id", sa.String(32), primary_key=True),
        sa.Column("handled", UTCDateTime(), nullable=True),
        sa.Column("wish", sa.String(8), nullable=True),
        sa.Column("wish_until", UTCDateTime(), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("server_switches", "budget_lifts", "usage", "rests", "activity"):
        op.drop_table(table)
