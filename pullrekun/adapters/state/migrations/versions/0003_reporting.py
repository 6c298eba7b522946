"""Reporting to GitHub: fork approvals, last-reported state per channel, GitHub facts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha", sa.String(40), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("sha", sa.String(40)),
        sa.Column("github_id", sa.BigInteger()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "github_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("github_state", "reports", "approvals"):
        op.drop_table(table)
