"""Photos and voice notes of open tickets (issue 16): kyr_ticket_media holds them sealed,
linked to their transcript line, deleted with the transcript; kyr_tickets.reply_ref holds
the resident's last platform message id, sealed, while the ticket is open (a WhatsApp
typing indicator names it).

Revision ID: 0008_ticket_media
Revises: 0007_alert_deliveries
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ticket_media"
down_revision = "0007_alert_deliveries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_ticket_media",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("mime", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["kyr_tickets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["kyr_ticket_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kyr_ticket_media_ticket_id", "kyr_ticket_media", ["ticket_id"])
    # A plain ADD COLUMN, not a batch copy: copying kyr_tickets on SQLite would lose the
    # partial unique index that keeps one open ticket per resident.
    op.add_column("kyr_tickets", sa.Column("reply_ref", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE kyr_tickets DROP COLUMN reply_ref")  # SQLite 3.35+ and PostgreSQL
    op.drop_index("ix_kyr_ticket_media_ticket_id", table_name="kyr_ticket_media")
    op.drop_table("kyr_ticket_media")
