"""The change log of a network state machine (reports, alerts): who changed what, when.

Both services write one row per transition in the transaction that makes it, read the
history for the console, and expose the newest row id as the version the console watches.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage.db import as_utc


class EventLog:
    def __init__(self, engine: Engine, table: sa.Table, owner: str) -> None:
        self.engine = engine
        self.table = table
        self.owner = table.c[owner]  # the column naming the report or alert

    def write(self, connection: Connection, owner_id: int, kind: str, actor: str,
              at: dt.datetime) -> None:
        connection.execute(sa.insert(self.table).values(
            {self.owner.name: owner_id, "kind": kind, "actor": actor, "at": at}))

    def history(self, owner_id: int) -> list[tuple[str, str, dt.datetime]]:
        """(kind, actor, at) of every change, oldest first."""
        c = self.table.c
        query = sa.select(c.kind, c.actor, c.at).where(self.owner == owner_id).order_by(c.id)
        with self.engine.connect() as connection:
            return [(k, a, as_utc(at)) for k, a, at in connection.execute(query)]

    def version(self) -> int:
        """Grows with every change to any of them: the console's live cue."""
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.max(self.table.c.id))).scalar() or 0)

    def last_actor(self, connection: Connection, owner_id: int) -> str:
        """Who made the newest change (for "already decided by ..." messages)."""
        return str(connection.execute(sa.select(self.table.c.actor).where(
            self.owner == owner_id).order_by(self.table.c.id.desc()).limit(1)).scalar()
            or "someone")
