"""The inbox and outbox tables (defined in bot.storage.schema), and the threads their
database work runs in."""

from __future__ import annotations

import functools
import json
import time
from typing import Any, Callable, Mapping, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage import offload
from bot.storage.db import transaction
from bot.storage.prepared import Prepared
from bot.storage.schema import inbox, metadata, outbox

__all__ = ["inbox", "outbox", "metadata", "executor_for", "in_db_thread", "on_db_thread",
           "first_heads", "lease_heads", "CANDIDATES", "any_of", "listed"]

T = TypeVar("T")


def executor_for(engine: Engine) -> offload.DatabaseThreads:
    """The threads the queues' database work runs in, off the event loop: the same as the
    conversation service's (bot.storage.offload), so on SQLite one thread does all writes
    and none waits on another's lock; on PostgreSQL one per pooled connection."""
    return offload.executor(engine.dialect.name)


async def in_db_thread(engine: Engine, function: Callable[..., T], *args: Any) -> T:
    return await executor_for(engine).run(functools.partial(function, *args))


def on_db_thread(engine: Engine, function: Callable[..., T], *args: Any) -> T:
    """`in_db_thread` for code that runs in a thread of its own (a broadcast): the work goes
    to the database's threads and this thread waits for it. Long jobs that write in steps
    (batches) go through here step by step, so on SQLite each step takes its turn on the one
    writing thread between the residents' turns instead of fighting it for the file's lock
    (measured: replies' p99 during a broadcast 1,540 -> 137 ms). On a database thread
    already, it runs here: that thread would wait for itself."""
    if offload.on_database_thread():
        return function(*args)
    return executor_for(engine).submit(function, *args).result()


def any_of(dialect: str, column: str, name: str) -> str:
    """SQL for "`column` is one of the values bound to :name", as a fixed statement that
    can be prepared (bot.storage.prepared) where `IN :name` would be rendered anew for each
    length: PostgreSQL takes the values as one array, SQLite as one JSON array (`listed`
    makes either)."""
    if dialect == "postgresql":
        return f"{column} = ANY(:{name})"
    return f"{column} IN (SELECT value FROM json_each(:{name}))"


def listed(dialect: str, values: Sequence[Any]) -> Any:
    """The parameter `any_of` reads: a list for PostgreSQL, its JSON for SQLite."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))


CANDIDATES = 64  # open rows a claim looks at first (bot.app.inbox: why a prefix is enough)


def first_heads(connection: Connection, candidates: Prepared,
                everything: sa.sql.elements.TextClause, params: Mapping[str, Any], want: int,
                k: int = CANDIDATES, table: str = "") -> list[int]:
    """The first conversation heads in claim order: at least `want` when there are that
    many (up to `k`, or `want` if more).

    `candidates` reads the first `k` free open rows in claim order, each with whether it is
    its conversation's earliest open row (an index probe a row). Every head among them is a
    head of the whole queue, and in order, so when they hold `want` heads, or the queue has
    fewer than `k` free open rows, they are the answer. Only when the prefix is full of
    rows waiting behind their conversation's head does `everything` (the query over all
    waiting rows, cost growing with the queue) run.
    """
    rows = candidates.execute(connection, {**params, "k": k}).rows
    if len(rows) >= k and connection.dialect.name == "postgresql":
        refresh_statistics(connection, table)
    heads = [int(row[0]) for row in rows if row[1]]
    if len(heads) < want and len(rows) >= k:
        heads = [int(row_id) for row_id in connection.execute(everything, {**params, "n": max(k, want)}).scalars()]
    return heads


def lease_heads(engine: Engine, heads: Callable[[Connection], list[int]],
                claim: Prepared, params: Mapping[str, Any]) -> list[Any]:
    """Find the heads (`heads`, e.g. `first_heads`) and lease them with `claim` (its :ids,
    read with `any_of`); the rows its RETURNING gives, named, in no particular order.

    PostgreSQL reads and claims in one transaction. SQLite reads in a transaction of its own
    and claims in another: an idle poll then takes no write lock, and a read turned into a
    write fails at once if another connection wrote in between (WAL). The claim checks
    again that each row is open and free, so the gap between the two changes nothing."""
    dialect = engine.dialect.name
    one_transaction = dialect == "postgresql"
    rows: list[Any] = []
    with transaction(engine) as connection:
        ids = heads(connection)
        if ids and one_transaction:
            rows = claim.execute(connection, {**params, "ids": listed(dialect, ids)}).named()
    if ids and not one_transaction:
        with transaction(engine) as connection:
            rows = claim.execute(connection, {**params, "ids": listed(dialect, ids)}).named()
    return rows


ANALYZE_EVERY = 30.0  # seconds between a busy queue's ANALYZEs, per table and process
_analyzed: dict[str, float] = {}


def refresh_statistics(connection: Connection, table: str) -> None:
    """PostgreSQL plans the claim's reads from the table's statistics, and autovacuum
    refreshes them at most once a minute, after a tenth of the table changed: a queue that
    fills in seconds is planned as the near-empty one it last saw (an estimate of six waiting
    rows for 2,300: a bitmap scan over every waiting row and its dead versions, then a sort,
    8 ms where the ordered index scan takes 0.5 ms, EXPLAIN ANALYZE). A busy queue (a claim
    saw a full prefix) is analyzed at most every ANALYZE_EVERY seconds; ANALYZE samples the
    table, a few milliseconds for a queue, and does not block writers; SKIP_LOCKED: when
    another ANALYZE or a VACUUM holds the table, this claim does not wait for it."""
    now = time.monotonic()
    if table and now - _analyzed.get(table, -ANALYZE_EVERY) >= ANALYZE_EVERY:
        _analyzed[table] = now
        connection.execute(sa.text(f"ANALYZE (SKIP_LOCKED) {table}"))
