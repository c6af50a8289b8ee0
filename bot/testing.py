"""The shipped test harness: push a resident's message, pop the bot's replies.

    bot = TestBot(services.conversation, "alice")
    replies = await bot.say("ICE is at my door")
    replies = await bot.press("Yes")        # by button title, from the last reply
    replies = await bot.press_payload("/menu")

`deliver_queued(services.outbox, services.channels)` sends what the outbox holds (staff
replies) through the channels, as the senders of `kyr serve` would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol

from bot.core.messages import InboundMessage, OutboundMessage

if TYPE_CHECKING:
    from bot.app.outbox import Outbox
    from bot.app.relay import Outlet


class Conversation(Protocol):
    async def handle(self, inbound: InboundMessage) -> list[OutboundMessage]: ...

CHANNEL = "test"


class TestBot:
    __test__ = False  # not a pytest test class

    def __init__(self, conversation: Conversation, user: str) -> None:
        self.conversation = conversation
        self.user = user
        self.last: list[OutboundMessage] = []

    async def _send(self, inbound: InboundMessage) -> list[OutboundMessage]:
        self.last = await self.conversation.handle(inbound)
        return self.last

    async def say(self, text: str) -> list[OutboundMessage]:
        return await self._send(InboundMessage(CHANNEL, self.user, text=text))

    async def press_payload(self, payload: str) -> list[OutboundMessage]:
        return await self._send(InboundMessage(CHANNEL, self.user, payload=payload))

    async def press(self, title: str) -> list[OutboundMessage]:
        """Press a button of the last reply by its title (the latest message that has it)."""
        for message in reversed(self.last):
            for button in message.buttons:
                if button.title == title:
                    return await self.press_payload(button.payload)
        titles = [b.title for m in self.last for b in m.buttons]
        raise AssertionError(f"no button {title!r} in the last reply; there are {titles}")

    @property
    def where(self) -> tuple[str | None, str | None]:
        """(flow, step) of the last step said: where the conversation now waits.

        Notices the bot adds after it (such as the place in line once a ticket opens) are
        skipped; with nothing else said, the last message's."""
        for message in reversed(self.last):
            if message.flow != "system":
                return message.flow, message.step
        return (self.last[-1].flow, self.last[-1].step) if self.last else (None, None)


async def deliver_queued(outbox: "Outbox", channels: Mapping[str, "Outlet"],
                         timeout: float = 15.0) -> None:
    """Run the real sender of each channel until nothing is left queued for it: what
    `kyr serve`'s senders do, for tests that queue staff replies without a server."""
    import asyncio
    import time

    import sqlalchemy as sa

    from bot.app.outbox import Sender
    from bot.app.pacing import Pacer
    from bot.app.queue_tables import outbox as table
    from bot.app.turns import channel_deliver

    def left(channel: str) -> int:
        with outbox.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.channel == channel, table.c.state.in_(("todo", "doing")))).scalar() or 0)

    for name, channel in channels.items():
        sender = Sender(outbox, name, channel_deliver(channel), Pacer.for_channel(name, rate=1000.0),
                        idle=0.01)
        sender.pacer.per_chat.rate = sender.pacer.per_chat.burst = 1000.0
        task = asyncio.create_task(sender.run())
        deadline = time.monotonic() + timeout
        try:
            while left(name) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            await sender.stop(5.0)
            task.cancel()
