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


def _copy_sqlite(key: list[str], purpose: bool) -> None:
    """SQLite cannot change a primary key in place: a new table, the rows, the old one
    dropped (batch mode would too, but it warns that the reflected key and the new one
    disagree)."""
    columns = [sa.Column("resident", sa.String(80), nullable=False),
               sa.Column("sealed", sa.Text, nullable=False),
               sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]
    if purpose:
        columns.insert(1, sa.Column("purpose", sa.String(20), nullable=False,
                                    server_default="ticket"))
    op.create_table("kyr_addresses_copy", *columns,
                    sa.PrimaryKeyConstraint(*key, name="kyr_addresses_pkey"))
    picked = "resident, 'ticket', sealed, updated_at" if purpose else "resident, sealed, updated_at"
    names = "resident, purpose, sealed, updated_at" if purpose else "resident, sealed, updated_at"
    op.execute(f"INSERT INTO kyr_addresses_copy ({names}) SELECT {picked} FROM kyr_addresses")
    op.drop_table("kyr_addresses")
    op.rename_table("kyr_addresses_copy", "kyr_addresses")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite(["resident", "purpose"], purpose=True)
        return
    with op.batch_alter_table("kyr_addresses", recreate="never") as batch:
        batch.add_column(sa.Column("purpose", sa.String(20), nullable=False,
                                   server_default="ticket"))
        batch.drop_constraint("kyr_addresses_pkey", type_="primary")
        batch.create_primary_key("kyr_addresses_pkey", ["resident", "purpose"])


def downgrade() -> None:
    op.execute("DELETE FROM kyr_addresses WHERE purpose != 'ticket'")
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite(["resident"], purpose=False)
        return
    with op.batch_alter_table("kyr_addresses", recreate="never") as batch:
        batch.drop_constraint("kyr_addresses_pkey", type_="primary")
        batch.drop_column("purpose")
        batch.create_primary_key("kyr_addresses_pkey", ["resident"])
