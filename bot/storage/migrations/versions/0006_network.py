"""The rapid-response network (issue 15): reports and their verification, alerts drafted by
one person and approved by another, and the residents subscribed to alerts by area.

Cross streets, verifiers' notes and alerts' free text are sealed (bot.storage.addresses
`sealer`); a subscriber is a keyed hash, their address stays in kyr_addresses.

Revision ID: 0006_network
Revises: 0005_transparency
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_network"
down_revision = "0005_transparency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("area", sa.String(40), nullable=False),
        sa.Column("what", sa.String(120), nullable=False),
        sa.Column("seen", sa.String(12), nullable=False),
        sa.Column("ongoing", sa.Boolean(), nullable=True),
        sa.Column("cross_streets", sa.Text(), nullable=True),
        sa.Column("language", sa.String(12), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("verifier", sa.String(80), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kyr_reports_state", "kyr_reports", ["state"])
    op.create_index("ix_kyr_reports_created_at", "kyr_reports", ["created_at"])
    op.create_table(
        "kyr_report_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("kyr_reports.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kyr_report_events_report_id", "kyr_report_events", ["report_id"])
    op.create_table(
        "kyr_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("areas", sa.Text(), nullable=False),
        sa.Column("template", sa.String(80), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("free_text", sa.Text(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("kyr_alerts.id"), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drafted_by", sa.String(80), nullable=False),
        sa.Column("approved_by", sa.String(80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kyr_alerts_state", "kyr_alerts", ["state"])
    op.create_table(
        "kyr_alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("kyr_alerts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kyr_alert_events_alert_id", "kyr_alert_events", ["alert_id"])
    op.create_table(
        "kyr_subscriptions",
        sa.Column("resident", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("language", sa.String(12), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_method", sa.String(10), nullable=False),
        sa.Column("consent_version", sa.String(64), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("resident"),
    )
    op.create_table(
        "kyr_subscription_areas",
        sa.Column("resident", sa.String(80), sa.ForeignKey("kyr_subscriptions.resident",
                                                           ondelete="CASCADE"), nullable=False),
        sa.Column("area", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("resident", "area"),
    )
    op.create_index("ix_kyr_subscription_areas_area", "kyr_subscription_areas",
                    ["area", "resident"])


def downgrade() -> None:
    op.drop_index("ix_kyr_subscription_areas_area", table_name="kyr_subscription_areas")
    op.drop_table("kyr_subscription_areas")
    op.drop_table("kyr_subscriptions")
    op.drop_index("ix_kyr_alert_events_alert_id", table_name="kyr_alert_events")
    op.drop_table("kyr_alert_events")
    op.drop_index("ix_kyr_alerts_state", table_name="kyr_alerts")
    op.drop_table("kyr_alerts")
    op.drop_index("ix_kyr_report_events_report_id", table_name="kyr_report_events")
    op.drop_table("kyr_report_events")
    op.drop_index("ix_kyr_reports_created_at", table_name="kyr_reports")
    op.drop_index("ix_kyr_reports_state", table_name="kyr_reports")
    op.drop_table("kyr_reports")
