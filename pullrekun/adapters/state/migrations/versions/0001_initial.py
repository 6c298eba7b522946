"""Initial tables: assignments, deployments, events, queue, http_cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import LongText, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("instance_id", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deployed_sha", sa.String(40)),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("failed_task", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("artifacts", sa.Text()),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("pr_number", sa.Integer(), nullable=False, index=True),
        sa.Column("instance_id", sa.String(32), nullable=False),
        sa.Column("sha", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("failed_task", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("artifacts", sa.Text()),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("pr_number", sa.Integer()),
        sa.Column("instance_id", sa.String(32)),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_table(
        "queue",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "http_cache",
        sa.Column("key", sa.String(191), primary_key=True),
        sa.Column("etag", sa.String(200), nullable=False),
        sa.Column("body", LongText, nullable=False),
        sa.Column("next_url", sa.Text()),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("http_cache", "queue", "events", "deployments", "assignments"):
        op.drop_table(table)
