"""The release notices' facts (production's last read, the draft release) in a table of their
own, out of ``github_state``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pullrekun.adapters.state.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_KEYS = (
    "production_sha",
    "production_read_at",
    "production_problem",
    "release_draft_key",
    "release_draft_id",
)


def _move(source: str, target: str) -> None:
    keys = ", ".join(f"'{k}'" for k in _KEYS)
    op.execute(
        f"INSERT INTO {target} (`key`, value, updated_at) "
        f"SELECT `key`, value, updated_at FROM {source} WHERE `key` IN ({keys})"
    )
    op.execute(f"DELETE FROM {source} WHERE `key` IN ({keys})")


def upgrade() -> None:
    op.create_table(
        "release_facts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    _move("github_state", "release_facts")


def downgrade() -> None:
    _move("release_facts", "github_state")
    op.drop_table("release_facts")
