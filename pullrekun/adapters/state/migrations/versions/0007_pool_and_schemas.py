"""People's requests for pool instances, the developer -> schema table edited on the dashboard,
and each environment's PR title and author (for the dashboard).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("pr_title", sa.String(256), nullable=True))
        batch.add_column(sa.Column("pr_author", sa.String(39), nullable=True))
    op.create_table(
        "instance_requests",
        sa.Column("instance_id", sa.String(32), primary_key=True),
        sa.Column("wish", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "schema_sources",
        sa.Column("login", sa.String(39), primary_key=True),
        sa.Column("schema_name", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schema_sources")
    op.drop_table("instance_requests")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("pr_author")
        batch.drop_column("pr_title")
