"""When pullrekun first saw each fork PR's head commit (an approval label must come after it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pr_heads",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha", sa.String(40), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pr_heads")
