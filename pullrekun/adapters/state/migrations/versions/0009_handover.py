"""Clean hand-overs: each environment's database credentials nonce, and the hosts that ran code
from a PR not trusted by default; the dashboard's sessions, kept server-side.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("db_nonce", sa.String(32), nullable=True))
    op.create_table(
        "untrusted_hosts",
        sa.Column("instance_id", sa.String(32), primary_key=True),
        sa.Column("pr_number", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(40), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("untrusted_hosts")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("db_nonce")
