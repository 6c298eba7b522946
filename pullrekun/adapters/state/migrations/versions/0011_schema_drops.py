"""The schema drops a pass intends (``on_close = "drop"``), kept until they are done.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schema_drops",
        sa.Column("instance_id", sa.String(32), primary_key=True),
        sa.Column("schema_name", sa.String(64), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schema_drops")
