"""Staff replies go through the outbox: queued with their transcript line, sent in the
resident's conversation order at STAFF priority, retried like any reply, and the line is
marked sent or failed in the transaction that marks the outbox row."""

from __future__ import annotations

from typing import Iterator

import pytest
import sqlalchemy as sa

from bot.app.outbox import STAFF
from bot.app.queue_tables import outbox as outbox_table
from bot.app.relay import Relay
from bot.app.services import Services
from bot.core.delivery import SendResult, retry_later
from bot.core.messages import InboundMessage, OutboundMessage
from bot.testing import TestBot, deliver_queued
from tests.channels.recording import RecordingChannel


class FlakyChannel(RecordingChannel):
    """Answers the first send like a platform's 503, then accepts."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls = 0

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.calls == 1:
            return retry_later("HTTP 503")
        return await super().send(recipient, message)


async def ticket_for(services: Services, user: str) -> int:
    bot = TestBot(services.conversation, user)
    await bot.say("/lang en")
    await bot.say("/human")
    ticket = services.tickets.open_for(services.conversation.resident(InboundMessage("test", user)))
    assert ticket is not None
    services.tickets.claim(ticket.id, "ana")
    return ticket.id


def clear(services: Services) -> None:
    with services.db.begin() as connection:
        connection.execute(outbox_table.delete())


@pytest.fixture(autouse=True)
def closed_after(services: Services) -> Iterator[None]:
    """Tickets these tests open are closed after: others count places in line."""
    yield
    for user in ("staff-outbox-1", "staff-outbox-2", "staff-outbox-3"):
        ticket = services.tickets.open_for(services.conversation.resident(InboundMessage("test", user)))
        if ticket is not None:
            services.tickets.close(ticket.id, "resident", "cleanup")
    clear(services)


async def test_a_staff_reply_is_an_outbox_row_with_its_line_then_marked_sent_after_a_retry(
        services: Services) -> None:
    clear(services)
    channel = FlakyChannel("test")
    relay = Relay(services.tickets, services.residents, services.conversation, {"test": channel},
                  services.outbox)
    ticket_id = await ticket_for(services, "staff-outbox-1")
    line, reason = await relay.reply(ticket_id, "ana", "Are you safe?")
    assert reason is None and channel.calls == 0  # queued, not sent by the console's request
    with services.db.connect() as connection:
        rows = connection.execute(sa.select(outbox_table.c.priority, outbox_table.c.state,
                                            outbox_table.c.sealed)).all()
    assert [(r.priority, r.state) for r in rows] == [(STAFF, "todo")]
    assert "Are you safe" not in rows[0].sealed  # sealed like every outbox row
    assert services.tickets.messages(ticket_id)[-1].delivery == "sending"
    await deliver_queued(services.outbox, relay.channels)
    assert channel.calls == 2 and channel.sent == [("staff-outbox-1", "Are you safe?")]
    last = services.tickets.messages(ticket_id)[-1]
    assert (last.id, last.delivery, last.reason) == (line, "sent", None)


async def test_undeliverable_replies_are_marked_at_once_and_not_queued(services: Services) -> None:
    clear(services)
    relay = Relay(services.tickets, services.residents, services.conversation, {}, services.outbox)
    ticket_id = await ticket_for(services, "staff-outbox-2")
    _, reason = await relay.reply(ticket_id, "ana", "hello")
    assert reason == "the test channel is not running on this server"
    with services.db.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar() == 0
    assert services.tickets.messages(ticket_id)[-1].delivery == "failed"


async def test_a_refused_reply_is_marked_failed_with_the_platform_reason(services: Services) -> None:
    clear(services)
    channel = RecordingChannel("test", refuse="rejected by WhatsApp (HTTP 400)")
    relay = Relay(services.tickets, services.residents, services.conversation, {"test": channel},
                  services.outbox)
    ticket_id = await ticket_for(services, "staff-outbox-3")
    await relay.reply(ticket_id, "ana", "hello")
    await deliver_queued(services.outbox, relay.channels)
    last = services.tickets.messages(ticket_id)[-1]
    assert (last.delivery, last.reason) == ("failed", "rejected by WhatsApp (HTTP 400)")
