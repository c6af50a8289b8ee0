"""The database threads: results, errors and order come back as an executor's would."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Iterator

import pytest

from bot.storage import offload
from bot.storage.offload import DatabaseThreads


@pytest.fixture
def threads() -> Iterator[DatabaseThreads]:
    made = DatabaseThreads(1, "kyr-db-test", "sqlite")
    yield made
    made.shutdown()


async def test_results_errors_and_order(threads: DatabaseThreads) -> None:
    done: list[int] = []

    def step(n: int) -> int:
        done.append(n)
        return n * 10

    assert await asyncio.gather(*(threads.run(lambda n=n: step(n)) for n in range(20))) == \
        [n * 10 for n in range(20)]
    assert done == list(range(20))  # one thread: in the order they were handed over

    def fails() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await threads.run(fails)
    assert await threads.run(lambda: "still working") == "still working"


async def test_the_threads_are_database_threads_and_the_loop_is_not(
        threads: DatabaseThreads) -> None:
    assert not offload.on_database_thread()
    assert await threads.run(offload.on_database_thread)
    assert await threads.run(lambda: threading.current_thread().name) == "kyr-db-test_0"


async def test_a_caller_that_stops_waiting_leaves_the_thread_working(
        threads: DatabaseThreads) -> None:
    started = threading.Event()
    waiting = asyncio.ensure_future(threads.run(lambda: (started.set(), time.sleep(0.2))))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await threads.run(lambda: 7) == 7


def test_a_closed_loop_and_a_plain_thread(threads: DatabaseThreads) -> None:
    release = threading.Event()

    async def leave() -> None:  # the loop closes while its call still runs
        asyncio.ensure_future(threads.run(lambda: release.wait(5)))
        await asyncio.sleep(0.05)

    asyncio.run(leave())
    release.set()
    assert threads.submit(lambda a, b: a + b, 2, 3).result(5) == 5
    with pytest.raises(ZeroDivisionError):
        threads.submit(lambda: 1 / 0).result(5)


def test_a_cancelled_submit_leaves_the_thread_working(threads: DatabaseThreads) -> None:
    release = threading.Event()
    busy = threads.submit(release.wait, 5)
    cancelled = threads.submit(lambda: "never wanted")
    assert cancelled.cancel()  # still queued behind the busy call
    release.set()
    assert busy.result(5) is True
    assert threads.submit(lambda: "next").result(5) == "next"
