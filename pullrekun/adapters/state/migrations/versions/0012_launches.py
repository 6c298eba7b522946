"""pullrekun's own launch records (``[ec2] launch_template``), and the launches people ask for.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "launches",
        sa.Column("token", sa.String(40), primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("for_pr", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(32), nullable=True, index=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("retry_at", UTCDateTime(), nullable=True),
        sa.Column("bootstrapped_at", UTCDateTime(), nullable=True),
        sa.Column("served", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("idle_since", UTCDateTime(), nullable=True),
        sa.Column("protected", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("terminated_at", UTCDateTime(), nullable=True, index=True),
        sa.Column("end_reason", sa.String(200), nullable=True),
    )

    op.create_table(
        "launch_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("launch_requests")
    op.drop_table("launches")
