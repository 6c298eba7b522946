"""Release notices and their sends to each chat channel.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import LongText, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("previous_sha", sa.String(40), nullable=True),
        sa.Column("sha", sa.String(40), nullable=True),
        sa.Column("text", LongText, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("slot", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_notices_created_at", "notices", ["created_at"])
    op.create_table(
        "notice_sends",
        sa.Column("notice_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notice_sends")
    op.drop_index("ix_notices_created_at", table_name="notices")
    op.drop_table("notices")
