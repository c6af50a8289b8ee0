"""PostgreSQL: a transaction's BEGIN travels with its first statement.

psycopg2 opens every transaction with a round trip of its own, a `BEGIN` sent and
answered before the first statement goes: 9,912 of the 43,547 statements of a one-worker
serving run (2,500 messages, PostgreSQL's statement log) were these BEGINs, each costing
the client about 60 us of CPU on loopback (half of it the kernel's) and the server 30-50 us.
Here the connections are in psycopg2's autocommit mode, and the dialect puts `BEGIN;` in
front of a transaction's first statement (one round trip for both: psycopg2 sends a query
as one simple-protocol string, and a cursor's results and row count are the last
statement's), then sends `COMMIT` or `ROLLBACK` when SQLAlchemy ends the transaction.

Whether a transaction is open is the server's own answer (libpq's transaction status, a
field of the connection, no round trip), so nothing here keeps state that could drift
from it: a statement on an idle connection opens a transaction, a commit or rollback of an
idle connection sends nothing (as psycopg2 does). Every statement SQLAlchemy runs belongs
to a transaction (the engines are `future=True`: a connection begins on first use), and
`Prepared` statements run through the dialect too (bot.storage.prepared).
Not for statements that cannot run in a transaction (VACUUM, CREATE DATABASE): the bot
runs none; other isolation levels than the server's default, AUTOCOMMIT among them, are
refused instead of half-honoured.
"""

from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2

DRIVER = "kyr_psycopg2"


def _idle(dbapi_connection: Any) -> bool:
    """No transaction open on the server. (SQLAlchemy hands commit and rollback its pool's
    wrapper, whose `info` is its own dict: the driver's connection is inside.)"""
    raw = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
    return bool(raw.info.transaction_status == TRANSACTION_STATUS_IDLE)


class BeginWithFirstStatement(PGDialect_psycopg2):
    """psycopg2, with each transaction's BEGIN sent in front of its first statement."""

    supports_statement_cache = True  # compiles as psycopg2 does: SQLAlchemy may cache it

    def on_connect(self) -> Callable[[Any], None]:
        others = super().on_connect()

        def connect(dbapi_connection: Any) -> None:
            dbapi_connection.autocommit = True  # no BEGIN of psycopg2's own
            if others is not None:
                others(dbapi_connection)

        return connect

    def set_isolation_level(self, connection: Any, level: str) -> None:
        """Only the server's default level, which every transaction here has: a BEGIN sent
        by hand carries no other (psycopg2 would have written it into its own BEGIN), and
        AUTOCOMMIT would leave this dialect opening transactions nobody commits."""
        if level != self.default_isolation_level:
            raise sa.exc.ArgumentError(
                f"kyr's PostgreSQL engine runs every transaction at the server's default "
                f"isolation level ({self.default_isolation_level}), not {level}: use a plain "
                "engine for that")

    def do_execute(self, cursor: Any, statement: str, parameters: Any,
                   context: Any = None) -> None:
        if _idle(cursor.connection):
            statement = "BEGIN;" + statement
        cursor.execute(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        if _idle(cursor.connection):
            statement = "BEGIN;" + statement
        cursor.execute(statement)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any,
                       context: Any = None) -> None:
        if _idle(cursor.connection):  # the batch helpers rewrite the statement: BEGIN apart
            cursor.execute("BEGIN")
        super().do_executemany(cursor, statement, parameters, context)

    def do_commit(self, dbapi_connection: Any) -> None:
        if not _idle(dbapi_connection):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("COMMIT")

    def do_rollback(self, dbapi_connection: Any) -> None:
        if not _idle(dbapi_connection):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("ROLLBACK")


registry.register(f"postgresql.{DRIVER}", __name__, "BeginWithFirstStatement")


def url_for(url: sa.engine.URL) -> sa.engine.URL:
    """`url` on this dialect when it names psycopg2 (PostgreSQL's default driver), else
    as it is."""
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        return url.set(drivername=f"postgresql+{DRIVER}")
    return url
