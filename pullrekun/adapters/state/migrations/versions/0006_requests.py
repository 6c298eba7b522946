"""Requests from people (the dashboard, the CLI): redeploy and sleep flags, who did what in events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(
            sa.Column("redeploy_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("asleep", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("actor", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("actor")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("asleep")
        batch.drop_column("redeploy_requested")
