"""Staff to resident: replies and the end of a ticket go out through the resident's channel.

A staff reply is a transcript line (delivery "sending") and an outbox row (priority STAFF)
written in one transaction; the channel's sender delivers it in the resident's
conversation order, at the platform's pace, with the outbox's retries, and marks the line
sent or failed (with the platform's reason) in the transaction that marks the outbox row
(`delivery_marks`). So a reply survives a crash of the worker that took it, and staff see
what reached the resident. What cannot be delivered at all (the channel is off, WhatsApp's
24-hour window has passed, the address is gone) is marked failed at once and not queued.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Protocol

from sqlalchemy.engine import Connection

from bot.app.conversation import ConversationService
from bot.app.outbox import STAFF, Draft, Observer, Outbox, message_item
from bot.app.residents import TICKET, Residents
from bot.core import actors
from bot.core.delivery import Capabilities, SendResult, outside_window
from bot.core.messages import OutboundMessage
from bot.handoff.tickets import CLAIMED, REPLY, SYSTEM, Ticket, TicketError, TicketService
from bot.storage.db import utc_now
from bot.storage.offload import off_loop

logger = logging.getLogger(__name__)

MAX_REPLY = 4000
TICKET_MESSAGE = "ticket_message"  # an outbox item's link to its transcript line


def delivery_marks(tickets: TicketService) -> Observer:
    """The outbox observer that marks a staff reply's transcript line sent or failed."""

    def mark(connection: Connection, row_id: int, item: Optional[dict[str, Any]], state: str,
             reason: Optional[str]) -> None:
        line = (item or {}).get(TICKET_MESSAGE)
        if isinstance(line, int) and state in ("sent", "failed"):
            tickets.delivered_in(connection, line, state == "sent", reason)

    return mark


class Outlet(Protocol):
    """What the relay needs of a channel (the channels implement it; the app never
    imports them): what the platform allows, and sending."""

    @property
    def capabilities(self) -> Capabilities: ...

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult: ...


class Relay:
    def __init__(self, tickets: TicketService, residents: Residents,
                 conversation: ConversationService, channels: Mapping[str, Outlet],
                 outbox: Outbox) -> None:
        self.tickets = tickets
        self.residents = residents
        self.conversation = conversation
        self.channels = channels
        self.outbox = outbox

    def why_not_deliverable(self, ticket: Ticket) -> Optional[str]:
        """A reason a reply cannot reach the resident now, or None."""
        channel = self.channels.get(ticket.channel)
        if channel is None:
            return f"the {ticket.channel} channel is not running on this server"
        if outside_window(channel.capabilities, ticket.last_inbound_at, utc_now()):
            return channel.capabilities.window_reason
        return None

    async def _address(self, ticket: Ticket) -> tuple[Optional[str], Optional[str]]:
        """Where to send (or None) and why not (or None)."""
        reason = self.why_not_deliverable(ticket)
        if reason is not None:
            return None, reason
        address = await off_loop(self.residents.address, ticket.resident)
        if address is None:
            return None, "the resident's address is gone (they erased their data)"
        return address, None

    def _drafts(self, ticket: Ticket, address: str, messages: list[OutboundMessage],
                line: Optional[int] = None) -> list[Draft]:
        """Outbox rows in the resident's conversation (ordered with the bot's replies)."""
        drafts = []
        for message in messages:
            item = message_item(message)
            if line is not None:
                item[TICKET_MESSAGE] = line
            drafts.append(Draft(ticket.channel, ticket.resident, address, item, STAFF))
        return drafts

    async def reply(self, ticket_id: int, staff: str, text: str,
                    outgoing: Optional[str] = None) -> tuple[int, Optional[str]]:
        """Queue a staff reply; returns the transcript line and why it cannot be delivered
        (None: it is on its way, and the sender marks the line sent or failed).
        `outgoing`: the text as set for the resident's screen (bot.handoff.replies), when
        it differs from what staff typed (which the transcript keeps)."""
        text = text.strip()[:MAX_REPLY]
        if not text:
            raise TicketError("the reply is empty")
        ticket = await off_loop(self.tickets.get, ticket_id)
        if ticket.status != CLAIMED or ticket.assignee != staff:
            raise TicketError(f"ticket {ticket_id} is not claimed by you: claim it first")
        address, reason = await self._address(ticket)
        message = OutboundMessage(outgoing or text, lang=ticket.language, flow="system",
                                  step="staff_reply")

        def queue(connection: Connection, line: int) -> None:  # with the transcript line
            if address is not None:
                self.outbox.write(connection, self._drafts(ticket, address, [message], line))

        message_id = await off_loop(self.tickets.add_message, ticket_id, actors.staff(staff), REPLY,
                                    text, also=queue)
        if reason is not None:
            await off_loop(self.tickets.delivered, message_id, False, reason)
        return message_id, reason

    async def typing(self, ticket_id: int, staff: str) -> bool:
        """"typing…" to the resident while the assignee writes, where the platform has it
        (Capabilities.typing_indicator); a channel without one does nothing. True if shown.
        WhatsApp's names the resident's last message (its id is kept while the ticket is open)."""
        ticket = await off_loop(self.tickets.get, ticket_id)
        if ticket.status != CLAIMED or ticket.assignee != staff:
            return False
        channel = self.channels.get(ticket.channel)
        typist = getattr(channel, "typing", None)
        if channel is None or not channel.capabilities.typing_indicator or not callable(typist) \
                or self.why_not_deliverable(ticket) is not None:
            return False
        address = await off_loop(self.residents.address, ticket.resident)
        if address is None:
            return False
        ref = await off_loop(self.tickets.reply_ref, ticket.id)
        try:
            return bool(await typist(address, ref))
        except Exception as exc:  # only a courtesy: never an error for staff
            logger.info("typing indicator through %s failed (%s)", ticket.channel, type(exc).__name__)
            return False

    async def close(self, ticket_id: int, staff: str, disposition: str,
                    supervisor: bool = False) -> Optional[str]:
        """Close the ticket, tell the resident in their language and show them the menu
        (queued; None), or say why they cannot be told."""
        ticket = await off_loop(self.tickets.close, ticket_id, staff, disposition, supervisor)
        replies = await self.conversation.system_turn(ticket.resident, "handoff_closed", ticket.channel)
        address, reason = await self._address(ticket)

        def queue(connection: Connection, line: int) -> None:
            if address is not None:
                self.outbox.write(connection, self._drafts(ticket, address, replies))

        await off_loop(self.tickets.add_message, ticket_id, actors.BOT, SYSTEM,
                       "The resident is told the chat ended and is shown the menu."
                       if reason is None else f"The resident could not be told the chat ended: {reason}",
                       also=queue)
        await off_loop(self.residents.release, ticket.resident, TICKET)  # unless they asked again
        return reason
