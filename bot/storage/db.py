"""One SQLAlchemy engine per database URL, set up for how this bot uses it."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Iterator, Optional, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage import offload
from bot.storage.offload import DB_THREADS
from bot.storage.schema import addresses, conversations, deliveries, metadata, processed

__all__ = ["addresses", "conversations", "deliveries", "metadata", "processed", "make_engine",
           "utc_now", "as_utc", "describe", "transaction"]

# How long a thread's connection may sit unused and still be taken without the pool's
# check (PostgreSQL: a ping): a connection idle longer is handed back and a checked one
# taken, so a database restarted while the bot was quiet costs no failed turn.
KEEP_IDLE_SECONDS = 2.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...


@overload
def as_utc(value: None) -> None: ...


def as_utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """A stored time as an aware UTC datetime: SQLite gives naive ones back (written as UTC)."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(dt.timezone.utc)

def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted rows are overwritten with zeros, not left in free pages of the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class _Kept(threading.local):
    """The connection this thread keeps between its transactions (one engine at a time)."""

    connection: Connection | None = None
    used_at = 0.0


_kept = _Kept()


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` on a connection this thread keeps between transactions.

    A message makes three to six short transactions, and taking a pooled connection for
    each (with PostgreSQL's ping, and the reset when it goes back) cost more than the
    transactions' own work on SQLite. A database thread (bot.storage.offload: one for
    SQLite, one per pooled connection for PostgreSQL) keeps its connection while it is
    busy; one idle longer than KEEP_IDLE_SECONDS, of another engine or invalidated is
    given back. Any other thread (the loop's, a web framework's pool of dozens, another
    kind of database's threads), or a transaction inside another, gets the plain
    `engine.begin()`: kept by every thread, connections would run out.
    """
    if not offload.on_database_thread(engine.dialect.name):
        with engine.begin() as connection:
            yield connection
        return
    kept, now = _kept.connection, time.monotonic()
    if kept is not None and kept.in_transaction():  # open further up this thread's stack
        with engine.begin() as connection:
            yield connection
        return
    if kept is not None and (kept.engine is not engine or kept.invalidated or kept.closed
                             or now - _kept.used_at > KEEP_IDLE_SECONDS):
        _kept.connection = None
        kept.close()
        kept = None
    if kept is None:
        kept = _kept.connection = engine.connect()
    try:
        with kept.begin():
            yield kept
    finally:
        _kept.used_at = time.monotonic()


def make_engine(url: str, upgrade: bool = True) -> Engine:
    """An engine on a database at the newest schema revision (bot.storage.migrate); for
    SQLite, the folder too and WAL mode. `upgrade=False` leaves the schema as it is."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy 1.4 gives SQLite files a NullPool: a new connection (and PRAGMAs)
        # per query. A small pool keeps them open; measured 0.4 s of 2 s in a profile.
        # (An in-memory database keeps SQLAlchemy's own pool: each pooled connection
        # would be a database of its own.)
        in_memory = parsed.database in (None, "", ":memory:")
        pool = {} if in_memory else {"poolclass": sa.pool.QueuePool, "pool_size": DB_THREADS // 2,
                                     "max_overflow": DB_THREADS // 2}
        engine = sa.create_engine(url, future=True, connect_args={"check_same_thread": False}, **pool)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # A connection for every database thread (bot.storage.offload), which it keeps
        # between its transactions (`transaction`), and twice as many again for the reads
        # those threads make beside it and for work on other threads (the console's pages).
        from bot.storage import pg_begin  # psycopg2, each BEGIN sent with a first statement

        engine = sa.create_engine(pg_begin.url_for(parsed), future=True, pool_pre_ping=True,
                                  pool_size=DB_THREADS, max_overflow=2 * DB_THREADS)
    offload.bind(engine.dialect.name)
    if upgrade:
        from bot.storage import migrate

        migrate.upgrade(engine)
    return engine


def describe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def shred_files(engine: Engine) -> None:
    """After an erasure or a purge: SQLite folds its WAL into the file and truncates it, so
    the deleted rows (zeroed by secure_delete) leave no copy in the log. PostgreSQL keeps
    dead row versions until VACUUM reuses the space; see README "Production"."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
