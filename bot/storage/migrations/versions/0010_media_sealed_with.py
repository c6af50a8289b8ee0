"""Photos and voice notes sealed with their resident's data key (issue 12): kyr_ticket_media
says which key opens each row. The rows already stored were sealed with the key derived from
KYR_SECRET_KEY, which a migration cannot reach to re-seal them, so they are marked "legacy"
and read with it until the retention purge deletes them.

The default stays "legacy": a worker still running the code from before this revision
(during a deploy) writes rows sealed the old way and does not name the column.

Revision ID: 0010_media_sealed_with
Revises: 0009_data_keys
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_media_sealed_with"
down_revision = "0009_data_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kyr_ticket_media") as batch:
        batch.add_column(sa.Column("sealed_with", sa.String(length=10), nullable=False,
                                   server_default="legacy"))


def downgrade() -> None:
    # The code of 0009 opens every row with the legacy key: a row sealed with a resident's
    # key is unreadable to it, which it already serves as "gone".
    with op.batch_alter_table("kyr_ticket_media") as batch:
        batch.drop_column("sealed_with")
