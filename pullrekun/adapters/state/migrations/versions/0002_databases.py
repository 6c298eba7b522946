"""Per-environment databases: what each assignment's schema was cloned from, reset requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("db_schema", sa.String(64)))
        batch.add_column(sa.Column("db_source", sa.String(64)))
        batch.add_column(sa.Column("db_cloned_at", UTCDateTime()))
        batch.add_column(
            sa.Column("db_reset_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("db_reset_seen", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        for column in ("db_reset_seen", "db_reset_requested", "db_cloned_at", "db_source", "db_schema"):
            batch.drop_column(column)
