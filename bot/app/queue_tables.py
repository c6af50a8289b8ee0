"""The inbox and outbox tables (defined in bot.storage.schema), and the threads their
database work runs in."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from sqlalchemy.engine import Engine

from bot.storage.schema import inbox, metadata, outbox

__all__ = ["inbox", "outbox", "metadata", "executor_for", "in_db_thread"]

T = TypeVar("T")
_executors: dict[int, ThreadPoolExecutor] = {}


def executor_for(engine: Engine) -> ThreadPoolExecutor:
    """The threads the queues' database work runs in, off the event loop.

    SQLite takes one writer at a time: one thread, so queue writes never wait on each
    other's locks (they took whole seconds of busy-waiting under load with a shared pool).
    PostgreSQL: as many threads as the pool has connections.
    """
    key = id(engine)
    if key not in _executors:
        threads = 1 if engine.dialect.name == "sqlite" else 8
        _executors[key] = ThreadPoolExecutor(threads, thread_name_prefix="kyr-queue")
    return _executors[key]


async def in_db_thread(engine: Engine, function: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor_for(engine), functools.partial(function, *args))
