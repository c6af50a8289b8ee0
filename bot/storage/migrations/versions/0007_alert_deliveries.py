"""Alert delivery: one row per (alert, subscriber) beside its outbox row, and one per alert
being sent (bot.app.broadcast).

Revision ID: 0007_alert_deliveries
Revises: 0006_network
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_alert_deliveries"
down_revision = "0006_network"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_alert_broadcasts",
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("kyr_alerts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("planned_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_table(
        "kyr_alert_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("kyr_alerts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("resident", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=12), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("template", sa.Boolean(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=True),
        sa.Column("done_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "resident", name="uq_kyr_alert_deliveries_resident"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kyr_alert_deliveries_state", "kyr_alert_deliveries",
                    ["alert_id", "state"])
    op.create_index("ix_kyr_alert_deliveries_outbox", "kyr_alert_deliveries", ["outbox_id"])
    op.create_index("ix_kyr_alert_deliveries_held", "kyr_alert_deliveries",
                    ["state", "urgency", "id"])
    op.create_index("ix_kyr_alert_deliveries_tier", "kyr_alert_deliveries",
                    ["channel", "template", "queued_at"])


def downgrade() -> None:
    op.drop_table("kyr_alert_deliveries")
    op.drop_table("kyr_alert_broadcasts")
