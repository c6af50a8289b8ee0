"""The change log of a state machine (tickets, reports, alerts): who changed what, when.

Each service writes one row per transition in the transaction that makes it, reads the
history for the console, and exposes the newest row id as the version the console watches.
Their tables have the same columns (id, the owner's id, kind, actor, at): kept in storage,
the ticket service and the network share this one helper without importing each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage.db import as_utc
from bot.storage.prepared import Prepared


class EventLog:
    def __init__(self, engine: Engine, table: sa.Table, owner: str) -> None:
        self.engine = engine
        self.table = table
        self.owner = table.c[owner]  # the column naming the ticket, report or alert
        # Built once and prepared (bot.storage.prepared): a line is written on every change.
        self._insert = Prepared(sa.insert(table).values({
            self.owner: sa.bindparam("owner_id"), table.c.kind: sa.bindparam("event_kind"),
            table.c.actor: sa.bindparam("event_actor"), table.c.at: sa.bindparam("event_at")}))

    def write(self, connection: Connection, owner_id: int, kind: str, actor: str,
              at: dt.datetime) -> None:
        self._insert.execute(connection, {"owner_id": owner_id, "event_kind": kind,
                                          "event_actor": actor, "event_at": at})

    def history(self, owner_id: int, kinds: Iterable[str] = ()) -> list[tuple[str, str, dt.datetime]]:
        """(kind, actor, at) of every change, or of these kinds, oldest first."""
        c = self.table.c
        query = sa.select(c.kind, c.actor, c.at).where(self.owner == owner_id).order_by(c.id)
        wanted = tuple(kinds)
        if wanted:
            query = query.where(c.kind.in_(wanted))
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
