"""Baseline: the tables as `create_all` made them before migrations (main at 2078330).

A database made then is stamped at this revision by `kyr db upgrade`, not created again.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("kyr_ticket_messages", "kyr_ticket_events", "kyr_tickets", "kyr_staff_sessions",
          "kyr_staff", "kyr_processed", "kyr_login_failures", "kyr_deliveries",
          "kyr_conversations", "kyr_audit", "kyr_addresses")


def upgrade() -> None:
    op.create_table('kyr_addresses',
    sa.Column('resident', sa.String(length=80), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('resident')
    )
    op.create_table('kyr_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('staff', sa.String(length=80), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kyr_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyr_audit_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('kyr_conversations',
    sa.Column('resident', sa.String(length=80), nullable=False),
    sa.Column('events', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('resident')
    )
    op.create_table('kyr_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('resident', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('kyr_login_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('kyr_login_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyr_login_failures_key'), ['key'], unique=False)

    op.create_table('kyr_processed',
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'key')
    )
    op.create_table('kyr_staff',
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('languages', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('kyr_staff_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff', sa.String(length=80), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('kyr_staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyr_staff_sessions_staff'), ['staff'], unique=False)

    op.create_table('kyr_tickets',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resident', sa.String(length=80), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=12), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('assignee', sa.String(length=80), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disposition', sa.String(length=40), nullable=True),
    sa.Column('after_hours', sa.Boolean(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('last_inbound_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('kyr_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyr_tickets_resident'), ['resident'], unique=False)
        batch_op.create_index(batch_op.f('ix_kyr_tickets_status'), ['status'], unique=False)
        batch_op.create_index('kyr_tickets_one_open', ['resident'], unique=True, sqlite_where=sa.text("status != 'closed'"), postgresql_where=sa.text("status != 'closed'"))

    op.create_table('kyr_ticket_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['kyr_tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('kyr_ticket_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyr_ticket_events_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('kyr_ticket_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=True),
    sa.Column('delivery', sa.String(length=10), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['kyr_tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('kyr_ticket_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kyr_ticket_messages_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
