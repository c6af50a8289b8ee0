"""One SQLAlchemy engine per database URL, set up for how this bot uses it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional, overload

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()


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

conversations = sa.Table(
    "kyr_conversations",
    metadata,
    # The keyed hash of (channel, platform id): never the phone number or chat id.
    sa.Column("resident", sa.String(80), primary_key=True),
    # Rasa events of the current session only; resident text is redacted before saving.
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


processed = sa.Table(
    "kyr_processed",
    metadata,
    # (channel, platform update or message id, hashed): each is handled once, even when the
    # platform delivers it again or two workers receive it (the primary key decides).
    sa.Column("channel", sa.String(20), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)


deliveries = sa.Table(
    "kyr_deliveries",
    metadata,
    # Sends that failed, and platform statuses: counted for metrics, failures kept for staff.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("resident", sa.String(80), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # sent, delivered, read, failed
    sa.Column("error_code", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(200), nullable=True),  # e.g. "outside the 24-hour window"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

addresses = sa.Table(
    "kyr_addresses",
    metadata,
    # How to reach a resident later (a phone number), encrypted with a key derived from
    # KYR_SECRET_KEY; deleted with the conversation.
    sa.Column("resident", sa.String(80), primary_key=True),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine with the tables created; for SQLite, the folder too and WAL mode."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy 1.4 gives SQLite files a NullPool: a new connection (and PRAGMAs)
        # per query. A small pool keeps them open; measured 0.4 s of 2 s in a profile.
        # (An in-memory database keeps SQLAlchemy's own pool: each pooled connection
        # would be a database of its own.)
        in_memory = parsed.database in (None, "", ":memory:")
        pool = {} if in_memory else {"poolclass": sa.pool.QueuePool, "pool_size": 4, "max_overflow": 4}
        engine = sa.create_engine(url, future=True, connect_args={"check_same_thread": False}, **pool)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    metadata.create_all(engine)
    return engine


def describe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)
