"""Every open PR as the last pass told its people: its state, why, and its test scenario.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open_prs",
        sa.Column("pr_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("title", sa.String(256), nullable=False, server_default=""),
        sa.Column("author", sa.String(39), nullable=False, server_default=""),
        sa.Column("sha", sa.String(40), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("open_prs")
