"""Crypto-shredding: a data key per resident, sealed by the master key, destroyed at erasure.

Deleting a row does not delete its bytes: SQLite's WAL and free pages (until a checkpoint
and `secure_delete`) and PostgreSQL's dead row versions (until VACUUM reuses the page)
keep them, and backups keep them for as long as backups live. What is sealed with a key
that no longer exists is noise wherever its bytes are. So a resident's transcript lines,
photos and voice notes are sealed with a key of their own (a random Fernet key, stored
sealed by a key derived from KYR_SECRET_KEY), and /delete and the retention purge delete
that key.

A key is read per use, never cached: a key destroyed by one worker must not live on in
another's memory.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from bot.storage.addresses import sealer
from bot.storage.db import utc_now
from bot.storage.schema import data_keys


# Built once: read for every transcript line written or shown (a statement made per call
# spends more in SQLAlchemy's construction and cache key than in the database).
_SEALED = sa.select(data_keys.c.sealed).where(data_keys.c.resident == sa.bindparam("resident"))


class DataKeys:
    def __init__(self, secret: bytes) -> None:
        self._master = sealer(secret, b"kyr-data-keys-v1")

    def key(self, connection: Connection, resident: str, create: bool = False) -> Optional[Fernet]:
        """The resident's key; made now when `create` and there is none (else None)."""
        sealed = connection.execute(_SEALED, {"resident": resident}).scalar()
        if sealed is None and create:
            fresh = self._master.encrypt(Fernet.generate_key()).decode()
            # Two transactions making the first key at once: the first insert wins.
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            connection.execute(insert(data_keys).values(
                resident=resident, sealed=fresh, created_at=utc_now()).on_conflict_do_nothing(
                index_elements=["resident"]))
            sealed = connection.execute(_SEALED, {"resident": resident}).scalar()
        if sealed is None:
            return None
        try:
            return Fernet(self._master.decrypt(sealed.encode()))
        except InvalidToken:  # KYR_SECRET_KEY changed: what it sealed cannot be opened
            return None

    def destroy(self, connection: Connection, residents: list[str]) -> int:
        """The keys go: everything sealed with them is unreadable from now on, everywhere."""
        if not residents:
            return 0
        return int(connection.execute(sa.delete(data_keys).where(
            data_keys.c.resident.in_(residents))).rowcount)
