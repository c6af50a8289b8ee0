"""The transparency report's tables: daily aggregate counts, published quarters, legal requests.

kyr_counts holds no identity: (Chicago day, kind, community area, dimension, value, n),
written at each effect (bot.app.counters) and kept through every purge.

Revision ID: 0005_transparency
Revises: 0004_inbox_outbox
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_transparency"
down_revision = "0004_inbox_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyr_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "kind", "area", "dimension", "value"),
    )
    op.create_table(
        "kyr_published_reports",
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=80), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("quarter"),
    )
    op.create_table(
        "kyr_legal_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("entered_by", sa.String(length=80), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("kyr_legal_requests")
    op.drop_table("kyr_published_reports")
    op.drop_table("kyr_counts")
