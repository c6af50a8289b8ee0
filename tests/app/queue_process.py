"""A worker process for the crash test: `python -m tests.app.queue_process URL SINK LEASE`.

The real inbox, outbox, worker and sender; the turn is a stand-in (two replies naming the
inbox row and the message's place in its conversation) so the process starts in a moment
and the test can tell lost, duplicated and reordered replies apart. It prints `ready`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bot.app.inbox import Inbox, Taken
from bot.app.outbox import Delivery, Draft, Outbox, Sender
from bot.app.pacing import Pacer
from bot.channels.http import http_client
from bot.app.worker import InboxWorker
from bot.storage.db import make_engine

SECRET = b"crash-test-secret"


async def main(url: str, sink: str, lease: float) -> None:
    engine = make_engine(url)
    inbox, outbox = Inbox(engine, SECRET, lease=lease), Outbox(engine, SECRET, lease=lease)

    async def turn(row: Taken) -> list[Draft]:
        await asyncio.sleep(0.005)  # a turn takes a moment: kills land mid-turn too
        user, seq = str(row.body["user"]), int(row.body["seq"])
        return [Draft("test", row.conversation, user,
                      {"text": f"{row.id}:{part}:{user}:{seq}"}) for part in (0, 1)]

    async with http_client() as http:
        async def deliver(address: str, item: dict[str, Any]) -> Delivery:
            response = await http.post(sink, json={"to": address, **item})
            return Delivery(response.status_code < 300, f"HTTP {response.status_code}",
                            retry=response.status_code == 429 or response.status_code >= 500)

        worker = InboxWorker(inbox, outbox, turn, concurrency=8)
        # per-chat pacing off: the test is about order and crashes, not the platform's rate
        sender = Sender(outbox, "test", deliver, Pacer.for_channel("test", rate=10_000.0),
                        concurrency=16)
        sender.pacer.per_chat.rate = sender.pacer.per_chat.burst = 10_000.0
        print("ready", flush=True)
        await asyncio.gather(worker.run(), sender.run())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
