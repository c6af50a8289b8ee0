"""Addresses are kept for a purpose: one row per (resident, purpose); today's are `ticket`.

Alert subscriptions will add the purpose `alerts`; an address goes when its last purpose
does (bot.app.residents).

Revision ID: 0002_address_purpose
Revises: 0001_baseline
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_address_purpose"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("kyr_addresses", recreate="always" if sqlite else "never") as batch:
        batch.add_column(sa.Column("purpose", sa.String(20), nullable=False,
                                   server_default="ticket"))
        if not sqlite:
            batch.drop_constraint("kyr_addresses_pkey", type_="primary")
        batch.create_primary_key("kyr_addresses_pkey", ["resident", "purpose"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("DELETE FROM kyr_addresses WHERE purpose != 'ticket'")
    with op.batch_alter_table("kyr_addresses", recreate="always" if sqlite else "never") as batch:
        if not sqlite:
            batch.drop_constraint("kyr_addresses_pkey", type_="primary")
        batch.drop_column("purpose")
        batch.create_primary_key("kyr_addresses_pkey", ["resident"])
