"""Crypto-shredding: one sealed data key per resident (kyr_data_keys).

Transcript lines are sealed with their resident's key; erasure and the retention purge
delete it. (Numbered 0009 and chained after 0005 on this branch: the lead re-chains it.)

Revision ID: 0009_data_keys
Revises: 0008_ticket_media
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_data_keys"
down_revision = "0008_ticket_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_data_keys",
        sa.Column("resident", sa.String(length=80), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resident"),
    )


def downgrade() -> None:
    op.drop_table("kyr_data_keys")
