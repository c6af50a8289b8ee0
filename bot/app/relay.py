"""Staff to resident: replies and the end of a ticket go out through the resident's channel.

Every reply is written to the transcript before it is sent, and marked sent or not
delivered (with the reason) after, so staff always see what reached the resident.
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional, Protocol

from bot.app.conversation import ConversationService
from bot.app.residents import TICKET, Residents
from bot.core.delivery import Capabilities, SendResult, outside_window
from bot.core.messages import OutboundMessage
from bot.handoff.tickets import CLAIMED, REPLY, SYSTEM, Ticket, TicketError, TicketService
from bot.storage.db import utc_now
from bot.storage.offload import off_loop

logger = logging.getLogger(__name__)

MAX_REPLY = 4000


class Outlet(Protocol):
    """What the relay needs of a channel (the channels implement it; the app never
    imports them): what the platform allows, and sending."""

    @property
    def capabilities(self) -> Capabilities: ...

    async def send(self, recipient: str, message: OutboundMessage) -> SendResult: ...


class Relay:
    def __init__(self, tickets: TicketService, residents: Residents,
                 conversation: ConversationService, channels: Mapping[str, Outlet]) -> None:
        self.tickets = tickets
        self.residents = residents
        self.conversation = conversation
        self.channels = channels

    def why_not_deliverable(self, ticket: Ticket) -> Optional[str]:
        """A reason a reply cannot reach the resident now, or None."""
        channel = self.channels.get(ticket.channel)
        if channel is None:
            return f"the {ticket.channel} channel is not running on this server"
        if outside_window(channel.capabilities, ticket.last_inbound_at, utc_now()):
            return channel.capabilities.window_reason
        return None

    async def _deliver(self, ticket: Ticket, messages: list[OutboundMessage]) -> Optional[str]:
        reason = self.why_not_deliverable(ticket)
        if reason is not None:
            return reason
        address = await off_loop(self.residents.address, ticket.resident)
        if address is None:
            return "the resident's address is gone (they erased their data)"
        channel = self.channels[ticket.channel]
        for message in messages:
            try:
                result = await channel.send(address, message)
            except Exception as exc:  # a channel bug must not lose the record of the reply
                logger.exception("relay through %s failed", ticket.channel)
                return f"sending failed ({type(exc).__name__})"
            if not result.sent:
                return result.reason or result.outcome.value
        return None

    async def reply(self, ticket_id: int, staff: str, text: str,
                    outgoing: Optional[str] = None) -> tuple[int, Optional[str]]:
        """Send a staff reply; returns the transcript line and why it was not delivered.
        `outgoing`: the text as set for the resident's screen (bot.handoff.replies), when
        it differs from what staff typed (which the transcript keeps)."""
        text = text.strip()[:MAX_REPLY]
        if not text:
            raise TicketError("the reply is empty")
        ticket = await off_loop(self.tickets.get, ticket_id)
        if ticket.status != CLAIMED or ticket.assignee != staff:
            raise TicketError(f"ticket {ticket_id} is not claimed by you: claim it first")
        message_id = await off_loop(self.tickets.add_message, ticket_id, f"staff:{staff}", REPLY, text)
        reason = await self._deliver(ticket, [OutboundMessage(outgoing or text, lang=ticket.language,
                                                              flow="system", step="staff_reply")])
        await off_loop(self.tickets.delivered, message_id, reason is None, reason)
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
        """Close the ticket, tell the resident in their language and show them the menu."""
        ticket = await off_loop(self.tickets.close, ticket_id, staff, disposition, supervisor)
        replies = await self.conversation.system_turn(ticket.resident, "handoff_closed", ticket.channel)
        reason = await self._deliver(ticket, replies)
        await off_loop(self.tickets.add_message, ticket_id, "bot", SYSTEM,
                       "The resident was told the chat ended and was shown the menu."
                       if reason is None else f"The resident could not be told the chat ended: {reason}")
        await off_loop(self.residents.release, ticket.resident, TICKET)  # unless they asked again
        return reason
