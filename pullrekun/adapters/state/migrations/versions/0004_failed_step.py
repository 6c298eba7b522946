"""The step a failed deploy failed at, recorded from the failing task's step tag.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("assignments", "deployments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("failed_step", sa.String(32)))


def downgrade() -> None:
    for table in ("assignments", "deployments"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("failed_step")
