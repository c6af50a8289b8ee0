"""The durable inbox and outbox (issue 12): messages stored before the 200, replies
stored in the transaction that marks their message done.

Revision ID: 0004_inbox_outbox
Revises: 0003_console_inbox
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_inbox_outbox"
down_revision = "0003_console_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("conversation", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sealed", sa.Text, nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("lease", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("platform_at", sa.Float, nullable=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float, nullable=True),
        sa.UniqueConstraint("channel", "key", name="uq_kyr_inbox_key"),
    )
    op.create_index("ix_kyr_inbox_conversation", "kyr_inbox", ["conversation", "id"])
    op.create_index("ix_kyr_inbox_state", "kyr_inbox", ["state", "id"])
    op.create_table(
        "kyr_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("conversation", sa.String(80), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("inbox_id", sa.Integer, nullable=True),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("sealed", sa.Text, nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("lease", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.UniqueConstraint("inbox_id", "part", name="uq_kyr_outbox_part"),
    )
    op.create_index("ix_kyr_outbox_conversation", "kyr_outbox", ["channel", "conversation", "id"])
    op.create_index("ix_kyr_outbox_state", "kyr_outbox", ["channel", "state", "priority", "id"])


def downgrade() -> None:
    op.drop_table("kyr_outbox")
    op.drop_table("kyr_inbox")
