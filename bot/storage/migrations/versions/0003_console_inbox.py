"""The staff console as an inbox (issue 16): what each person has read of each ticket,
who is on shift, the console's language per account, the last activity of a session (the
inactivity limit), and the audit log's detail and visit.

Revision ID: 0003_console_inbox
Revises: 0002_address_purpose
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_console_inbox"
down_revision = "0002_address_purpose"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_ticket_reads",
        sa.Column("staff", sa.String(80), primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("kyr_tickets.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("message_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "kyr_staff_presence",
        sa.Column("staff", sa.String(80), primary_key=True),
        sa.Column("on_shift", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("kyr_staff") as batch:
        batch.add_column(sa.Column("console_language", sa.String(12), nullable=True))
    with op.batch_alter_table("kyr_staff_sessions") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("kyr_audit") as batch:
        batch.add_column(sa.Column("detail", sa.String(120), nullable=True))
        batch.add_column(sa.Column("visit", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kyr_audit") as batch:
        batch.drop_column("visit")
        batch.drop_column("detail")
    with op.batch_alter_table("kyr_staff_sessions") as batch:
        batch.drop_column("seen_at")
    with op.batch_alter_table("kyr_staff") as batch:
        batch.drop_column("console_language")
    op.drop_table("kyr_staff_presence")
    op.drop_table("kyr_ticket_reads")
