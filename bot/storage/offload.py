"""Database work off the event loop, in threads sized to what the database can do at once.

A query that waits on PostgreSQL (or on SQLite's lock) inside `async` code stops every
other conversation on the worker; run here, it stops only its own.

SQLite takes one writer at a time, and a writer that finds the file locked sleeps in its
busy handler: with a pool of threads, turns spent more time asleep than working (a button
press bench: 237 presses/s with 8 threads, 449 with one). So a SQLite file gets ONE
database thread, shared by the conversation service and the queues, and its work never
waits on another thread's lock. PostgreSQL gets a thread per pooled connection.
`make_engine` picks the executor for the engine it makes (`bind`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ParamSpec, TypeVar

DB_THREADS = 8  # PostgreSQL: = the engine's pool_size (bot.storage.db)

P = ParamSpec("P")
T = TypeVar("T")

_by_kind: dict[str, ThreadPoolExecutor] = {}
_executor: ThreadPoolExecutor | None = None
_mine = threading.local()


def _mark() -> None:
    _mine.database_thread = True


def on_database_thread() -> bool:
    """Whether this thread is one of the database threads here (a bounded number, which
    may each keep a connection: bot.storage.db.transaction), not the loop's or another
    library's pool of threads."""
    return getattr(_mine, "database_thread", False)


def executor(dialect: str) -> ThreadPoolExecutor:
    """The threads for a database of this kind, made once per process."""
    if dialect not in _by_kind:
        threads = 1 if dialect == "sqlite" else DB_THREADS
        _by_kind[dialect] = ThreadPoolExecutor(threads, thread_name_prefix=f"kyr-db-{dialect}",
                                               initializer=_mark)
    return _by_kind[dialect]


def bind(dialect: str) -> None:
    """`off_loop` runs on the threads of this kind of database from now on (a process
    serves one database; tests that make several only change how many threads run)."""
    global _executor
    _executor = executor(dialect)


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` on a database thread; the loop serves others meanwhile."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor or executor("postgresql"),
                                      functools.partial(function, *args, **kwargs))
