"""Database work off the event loop: a small pool of threads, one per pooled connection.

A query that waits on PostgreSQL (or on SQLite's lock) inside `async` code stops every
other conversation on the worker; run here, it stops only its own. The pool is sized to
the connection pool (bot.storage.db), so threads never queue for a connection.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ParamSpec, TypeVar

DB_THREADS = 8  # = pool_size + max_overflow of a SQLite file engine (bot.storage.db)

P = ParamSpec("P")
T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="kyr-db")


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` on a database thread; the loop serves others meanwhile."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(function, *args, **kwargs))
