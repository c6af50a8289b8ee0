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
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, ParamSpec, TypeVar

DB_THREADS = 8  # PostgreSQL: = the engine's pool_size (bot.storage.db)

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseThreads:
    """A fixed number of threads taking calls from one queue, started at once.

    `concurrent.futures.ThreadPoolExecutor` under `loop.run_in_executor` made a
    `concurrent.futures.Future` (with its `threading.Condition`) for every call and chained
    it to an asyncio future: 33 us of CPU a hop, measured, against 12 us for a call put on
    a `SimpleQueue` whose result comes back through `call_soon_threadsafe`; a message
    makes about three hops. The threads are daemons (nothing joins them at exit): nothing
    acknowledged depends on one finishing, since a call's transaction commits before its
    result is handed back, and the server lets its turns in flight end before it exits.
    """

    def __init__(self, threads: int, name: str, kind: str) -> None:
        self.kind = kind  # the kind of database these threads are for ("sqlite", ...)
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Callable[..., None]] | None] = \
            queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{n}", daemon=True)
                         for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        _mine.kind = self.kind
        while (call := self._calls.get()) is not None:
            function, settle = call
            try:
                result = function()
            except BaseException as error:  # handed to the caller, as an executor does
                settle(None, error)
            else:
                settle(result, None)

    async def run(self, function: Callable[[], T]) -> T:
        """`function()` on one of the threads; the loop serves others meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop closed while the call ran: nobody waits for it
                pass

        self._calls.put((function, settle))
        return await future

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """For a thread that is not the loop's: a future it can wait on."""
        future: Future[T] = Future()

        def settle(result: Any, error: BaseException | None) -> None:
            if not future.set_running_or_notify_cancel():  # the caller cancelled it
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        self._calls.put((functools.partial(function, *args), settle))
        return future

    def shutdown(self) -> None:
        """The threads end once the calls already queued are done."""
        for _ in self._threads:
            self._calls.put(None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the caller stopped waiting; the call itself has run
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


_by_kind: dict[str, DatabaseThreads] = {}
_executor: DatabaseThreads | None = None
_mine = threading.local()


def on_database_thread(dialect: str | None = None) -> bool:
    """Whether this thread is one of the database threads here (a bounded number, which
    may each keep a connection: bot.storage.db.transaction), not the loop's or another
    library's pool of threads; with `dialect`, one of that kind of database's threads
    (a test process that made a PostgreSQL engine last runs SQLite work on its eight)."""
    kind = getattr(_mine, "kind", None)
    return kind is not None and (dialect is None or kind == dialect)


def executor(dialect: str) -> DatabaseThreads:
    """The threads for a database of this kind, made once per process."""
    if dialect not in _by_kind:
        threads = 1 if dialect == "sqlite" else DB_THREADS
        _by_kind[dialect] = DatabaseThreads(threads, f"kyr-db-{dialect}", dialect)
    return _by_kind[dialect]


def bind(dialect: str) -> None:
    """`off_loop` runs on the threads of this kind of database from now on (a process
    serves one database; tests that make several only change how many threads run)."""
    global _executor
    _executor = executor(dialect)


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` on a database thread; the loop serves others meanwhile."""
    return await (_executor or executor("postgresql")).run(
        functools.partial(function, *args, **kwargs))
