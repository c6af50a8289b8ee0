"""Relay latency: a staff reply submitted in the console until the channel's send is called.

Measured through the real ASGI app (session check, CSRF, form parsing, the ticket service's
sealed transcript write with its outbox row, the sealed address lookup) and the channel's
real outbox sender (claim, pacing, send), in-process with httpx, so the number is the
bot's own work and not the network's.
"""

from __future__ import annotations

import asyncio
import re
from time import perf_counter
from typing import Any

import httpx

from bot.channels.base import Channel
from bot.core.delivery import SENT, SendResult
from bot.core.messages import InboundMessage, OutboundMessage

PASSWORD = "benchmark password only"


class TimingChannel(Channel):
    name = "console"

    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        self.sent_at[message.text] = perf_counter()
        return SENT


async def measure_relay(services: Any, replies: int = 200, staff: int = 10) -> list[float]:
    """`staff` people, each with a claimed ticket, send `replies` replies in all, at once."""
    from argon2 import PasswordHasher

    from bot.handoff.staff import StaffDirectory
    from bot.web.app import create_app

    channel = TimingChannel()
    app = create_app(services.settings, env={}, services=services, channels={"console": channel})
    directory = StaffDirectory(services.db, PasswordHasher(time_cost=1, memory_cost=8192,
                                                                   parallelism=1))
    latencies: list[float] = []
    from bot.app.outbox import Sender
    from bot.app.pacing import Pacer
    from bot.app.turns import channel_deliver

    sender = Sender(services.outbox, "console", channel_deliver(channel),
                    Pacer.for_channel("console", rate=1000.0))
    sender.pacer.per_chat.rate = sender.pacer.per_chat.burst = 1000.0  # one chat per staff
    sending = asyncio.create_task(sender.run())

    async def one_staff(k: int) -> None:
        name, resident = f"bench-staff-{k}", f"bench-resident-{k}"
        directory.add(name, "staff", (), PASSWORD)
        await services.conversation.handle(InboundMessage("console", resident, text="/human"))
        ticket = services.tickets.open_for(services.conversation.resident(InboundMessage("console", resident)))
        assert ticket is not None, "no ticket opened"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bench") as client:
            login = await client.get("/staff/login")
            token = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
            await client.post("/staff/login", data={"csrf": token, "name": name, "password": PASSWORD})
            page = await client.get(f"/staff/tickets/{ticket.id}")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            await client.post(f"/staff/tickets/{ticket.id}/claim", data={"csrf": csrf})
            for j in range(replies // staff):
                text = f"reply {k}-{j}"
                started = perf_counter()
                response = await client.post(f"/staff/tickets/{ticket.id}/reply",
                                             data={"csrf": csrf, "text": text})
                if response.status_code != 303:
                    raise SystemExit(f"relay failed: HTTP {response.status_code}")
                for _ in range(10_000):  # at most 10 s for the sender to send it
                    if text in channel.sent_at:
                        break
                    await asyncio.sleep(0.001)
                else:
                    raise SystemExit("relay failed: the reply was never sent")
                latencies.append((channel.sent_at[text] - started) * 1000)

    try:
        await asyncio.gather(*(one_staff(k) for k in range(staff)))
    finally:
        await sender.stop(5.0)
        sending.cancel()
    return latencies
