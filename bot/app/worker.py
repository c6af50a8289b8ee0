"""Inbox workers: claim rows, run the turn, then in one transaction save the conversation,
write its replies to the outbox and mark the row done.

Fetch apart from dispatch (STYLE 17): the edge only stores; these tasks handle. Up to
`concurrency` conversations run at once in a process; each conversation one turn at a
time (the inbox claim). A lease is renewed while a turn runs, so a long turn is not taken
over; a dead worker's lease runs out and its rows are handled again, on any worker.

The turn runs inside `bot.storage.unit.holding()`: the tracker store holds the
conversation's save instead of writing it, and it is committed with the replies. A turn
that fails, or a worker that dies, before that commit leaves the conversation where it was,
so the turn that runs again starts from the same state and its replies are written once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from sqlalchemy.engine import Connection

from bot.app.inbox import Inbox, Taken
from bot.app.outbox import Draft, Outbox
from bot.app.queue_tables import in_db_thread
from bot.storage import unit

logger = logging.getLogger(__name__)

Handler = Callable[[Taken], Awaitable[list[Draft]]]


class InboxWorker:
    def __init__(self, inbox: Inbox, outbox: Outbox, handle: Handler, concurrency: int = 8,
                 idle: float = 0.05) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.handle = handle
        self.concurrency = concurrency
        self.idle = idle
        self.in_flight: set[asyncio.Task[None]] = set()
        self.counters: dict[str, int] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def wake(self) -> None:
        """A row was just stored in this process: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            free = self.concurrency - len(self.in_flight)
            taken: list[Taken] = []
            if free > 0:
                try:
                    taken = await in_db_thread(self.inbox.engine, self.inbox.take, free)
                except Exception as exc:  # the database is away: wait, try again
                    logger.warning("inbox claim failed (%s)", type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
            for row in taken:
                task = asyncio.create_task(self._turn(row))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
            if len(self.in_flight) >= self.concurrency:
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            elif not taken:
                self._wake.clear()
                waits = [asyncio.create_task(self._wake.wait()),
                         asyncio.create_task(self._stopping.wait()), *self.in_flight]
                done, _ = await asyncio.wait(waits, timeout=self.idle,
                                             return_when=asyncio.FIRST_COMPLETED)
                for extra in waits[:2]:
                    extra.cancel()

    async def stop(self, grace: float = 30.0) -> None:
        """Take nothing new; let the turns in flight finish (graceful shutdown)."""
        self._stopping.set()
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=grace)

    async def _turn(self, row: Taken) -> None:
        keeper = asyncio.create_task(self._keep_lease(row))
        try:
            with unit.holding() as held:
                drafts = await self.handle(row)
        except Exception as exc:
            keeper.cancel()
            logger.warning("a %s %s could not be handled (%s)", row.channel, row.kind,
                           type(exc).__name__)
            outcome = await in_db_thread(self.inbox.engine, self.inbox.retry, row)
            self.count(f"turns_{outcome}")
            return
        keeper.cancel()
        try:
            done = await in_db_thread(self.inbox.engine, self.inbox.complete, row,
                                      lambda c: self._commit(c, row, held, drafts))
        except Exception as exc:  # nothing of the turn was written: it runs again
            logger.warning("a turn's replies could not be stored (%s)", type(exc).__name__)
            try:
                await in_db_thread(self.inbox.engine, self.inbox.retry, row)
            except Exception:  # the database is away: the lease runs out instead
                pass
            self.count("turns_uncommitted")
            return
        self.count("turns_done" if done else "turns_lost_lease")

    def _commit(self, connection: Connection, row: Taken, held: unit.Held,
                drafts: list[Draft]) -> None:
        """The turn's one transaction (the inbox row is marked done in it by the caller).
        The replies first: the held writes end with the counters' shared rows, whose lock
        is then held only until the commit (bot.storage.unit.Held.hold)."""
        self.outbox.write(connection, drafts, row.id)
        held.commit(connection)  # the conversation as the turn left it, then its counts

    async def _keep_lease(self, row: Taken) -> None:
        while True:
            await asyncio.sleep(self.inbox.lease / 3)
            try:
                if not await in_db_thread(self.inbox.engine, self.inbox.renew, row):
                    return
            except Exception:  # the next renewal, or the lease's end, decides
                continue
